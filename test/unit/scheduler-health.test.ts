// The readiness poll's wake hint: with `wake`, probes that get no answer wait for the hint (here a long
// quiet interval that the test never lets elapse), and watchSocketDir gives that hint when the runtime's
// socket appears.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { waitUntilHealthy, watchSocketDir } from '../../scheduler/backends/health.js';

const dirs: string[] = [];
const servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise<void>((r) => s.close(() => r()));
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-health-'));
  dirs.push(dir);
  return dir;
}

function listen(socketPath: string): Promise<void> {
  const server = http.createServer((_req, res) => res.end('ok'));
  servers.push(server);
  return new Promise((r) => server.listen(socketPath, r));
}

describe('waitUntilHealthy with a wake hint', () => {
  it('waits for the hint after an unanswered probe, then probes at once', async () => {
    const socketPath = path.join(tempDir(), 'runtime.sock');
    let notify: (() => void) | null = null;
    let unsubscribed = false;
    const ready = waitUntilHealthy({
      endpoint: { kind: 'unix', socketPath },
      timeoutMs: 60_000,
      quietIntervalMs: 60_000, // never elapses within the test: only the hint can move the poll on
      wake: (n) => {
        notify = n;
        return () => (unsubscribed = true);
      },
    });
    await vi.waitFor(() => expect(notify).not.toBeNull());
    await listen(socketPath);
    notify!();
    await ready;
    expect(unsubscribed).toBe(true);
  });

  it('watchSocketDir hints when the socket appears in its directory', async () => {
    const dir = tempDir();
    const hints: number[] = [];
    const unsubscribe = watchSocketDir(dir)(() => hints.push(1));
    await listen(path.join(dir, 'runtime.sock'));
    await vi.waitFor(() => expect(hints.length).toBeGreaterThan(0));
    unsubscribe();
  });

  it('hints at once when the directory cannot be watched, so probing stays tight', () => {
    const hints: number[] = [];
    watchSocketDir(path.join(tempDir(), 'missing'))(() => hints.push(1))();
    expect(hints).toEqual([1]);
  });
});
