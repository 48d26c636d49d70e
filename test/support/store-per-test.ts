// A store for each test of a suite: made before it, closed (and what it left cleaned up) after.

import { afterEach, beforeEach } from 'vitest';
import type { Store } from '../../core/store/store.js';

/** Registers the hooks; the getter returns the current test's store. */
export function storePerTest(make: () => Promise<Store>, cleanup: () => Promise<void> = async () => {}): () => Store {
  let store: Store | undefined;
  beforeEach(async () => {
    store = await make();
  });
  afterEach(async () => {
    await store?.close();
    store = undefined;
    await cleanup();
  });
  return () => store!;
}
