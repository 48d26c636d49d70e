// A store for each test of a suite (made before it, closed after), and the removal of a Redis prefix's
// keys a suite or a platform left in the shared Redis.

import { Redis } from 'ioredis';
import { afterEach, beforeEach } from 'vitest';
import type { Store } from '../../core/store/store.js';
import { REDIS_URL } from './services.js';

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

/** Deletes every key under `prefix` (a test's own prefix, or a platform id followed by ":"). */
export async function removeRedisKeys(prefix: string): Promise<void> {
  const admin = new Redis(REDIS_URL);
  try {
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
  } finally {
    await admin.quit();
  }
}
