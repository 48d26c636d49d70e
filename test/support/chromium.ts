// Debian's chromium for browser suites, launched by playwright-core through executablePath (no browser is
// ever downloaded by a test tool). Outside CI a missing chromium skips the suite; with CI=true it fails.

import { execFileSync } from 'node:child_process';
import { chromium, type Browser, type Page } from 'playwright-core';
import { isCI } from './services.js';

function findChromium(): string | null {
  for (const name of ['chromium', 'chromium-browser']) {
    try {
      return execFileSync('which', [name], { encoding: 'utf8' }).trim() || null;
    } catch {
      // not this name
    }
  }
  return null;
}

/** The chromium binary, or null (and a warning naming the suite) where it is missing outside CI. */
export function chromiumFor(suite: string): string | null {
  const found = findChromium();
  if (!found && isCI) throw new Error(`CI=true: chromium is missing for ${suite} (bash scripts/browser.sh installs Debian's package)`);
  if (!found) console.warn(`skipping ${suite}: no chromium (bash scripts/browser.sh installs it)`);
  return found;
}

export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    // As root in a container, without the sandbox; no background traffic to hosts this machine cannot reach.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** Signs `page` in to the dashboard at `origin` with `key` and waits to land on `then` (where sign-in sends it on). */
export async function signIn(page: Page, origin: string, key: string, then = '/ui/functions'): Promise<void> {
  await page.goto(`${origin}/ui/login?next=${encodeURIComponent(then)}`);
  await page.fill('#key', key);
  await page.click('button[type=submit]');
  await page.waitForURL((url) => url.pathname === then);
}
