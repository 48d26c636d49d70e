// The readiness poll's wake hint: with `wake`, probes that get no answer wait for the hint (here a long
// quiet interval that the test never lets elapse), and watchSocketDir gives that hint when the runtime's
// socket appears.

import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { logStartFailure, NotHealthyError, waitUntilHealthy, watchSocketDir } from '../../scheduler/backends/health.js';

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

describe('logStartFailure', () => {
  const recorder = () => {
    const lines: Array<[string, string, Record<string, unknown>]> = [];
    const at = (level: string) => (msg: string, fields: Record<string, unknown> = {}) => void lines.push([level, msg, fields]);
    return { lines, log: { debug: at('debug'), info: at('info'), warn: at('warn') } };
  };

  it('says a function that exited or did not answer at info, with its reason and no error object (no stack of ours)', () => {
    for (const reason of ['gone', 'timeout'] as const) {
      const r = recorder();
      logStartFailure(r.log, { instanceId: 'i-1', lastLogLines: 'SyntaxError' }, new NotHealthyError(reason, 'exited with code 1'));
      expect(r.lines).toEqual([['info', 'instance failed to start (its function exited or did not answer)', { instanceId: 'i-1', lastLogLines: 'SyntaxError', reason: 'exited with code 1' }]]);
    }
  });

  it('warns of an untrusted socket, and of anything that is not the function\'s (with the error)', () => {
    const r = recorder();
    logStartFailure(r.log, { instanceId: 'i-2' }, new NotHealthyError('untrusted', 'the socket is a symlink'));
    const boom = new Error('docker is down');
    logStartFailure(r.log, { instanceId: 'i-3' }, boom);
    expect(r.lines).toEqual([
      ['warn', 'instance failed to start', { instanceId: 'i-2', reason: 'the socket is a symlink' }],
      ['warn', 'instance failed to start', { instanceId: 'i-3', error: boom }],
    ]);
  });
});
