// HAProxy as Stratus's supervised child (gateway/native/haproxy-process.ts), against the real binary: the
// native proxy's config (test/support/native-proxy.ts) is started, killed, restarted and stopped by the
// supervisor; calls go through it to a tiny instance server on a unix socket.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { slotName } from '../../gateway/native/haproxy-config.js';
import { HaproxyConfigError, HaproxyProcess, findHaproxy } from '../../gateway/native/haproxy-process.js';
import { HaproxyRuntime } from '../../gateway/native/haproxy-runtime.js';
import { call, haproxyBinary, haproxyMissing, prepareNativeProxy, type NativeProxySetup } from '../support/native-proxy.js';
import { until } from '../support/until.js';

let setup: NativeProxySetup | undefined;
let supervised: HaproxyProcess | undefined;

afterEach(async () => {
  await supervised?.stop(1000);
  supervised = undefined;
  await setup?.cleanup();
  setup = undefined;
});

function recordingLogger() {
  const lines: Array<{ level: string; msg: string; fields?: Record<string, unknown> }> = [];
  const at = (level: string) => (msg: string, fields?: Record<string, unknown>) => void lines.push({ level, msg, fields });
  return { lines, info: at('info'), warn: at('warn'), error: at('error') };
}

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe.skipIf(await haproxyMissing())('HAProxy supervised by Stratus (a real HAProxy)', () => {
  it('finds the binary on PATH first, then in the sbin folders a non-root PATH lacks', () => {
    expect(findHaproxy('')).toMatch(/^\/usr\/(local\/)?sbin\/haproxy$/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'haproxy-path-'));
    try {
      fs.writeFileSync(path.join(dir, 'haproxy'), '#!/bin/sh\n', { mode: 0o755 });
      expect(findHaproxy(`/nonexistent${path.delimiter}${dir}`)).toBe(path.join(dir, 'haproxy'));
      fs.chmodSync(path.join(dir, 'haproxy'), 0o644); // not executable: not it
      expect(findHaproxy(dir)).not.toBe(path.join(dir, 'haproxy'));
    } finally {
      fs.rmSync(dir, { recursive: true });
    }
  });

  it('starts HAProxy, restarts it after a crash and replays its state, and stops it for good', async () => {
    const s = (setup = await prepareNativeProxy({ slots: 2 }));
    const i1 = await s.instance('i1');
    const runtime = new HaproxyRuntime(s.files.runtimeSocket);
    // What Stratus replays: the route and its instance (HAProxy starts with empty maps and slots).
    const program = async () => {
      await runtime.setMapEntry(s.routes, 'hello', slotName(0));
      await runtime.addServer(slotName(0), 'i1', { socketPath: i1.socketPath, maxconn: 4 });
    };
    let replayed = 0;
    const logger = recordingLogger();
    const p = (supervised = new HaproxyProcess({
      binary: haproxyBinary(), configPath: s.files.config, runtimeSocket: s.files.runtimeSocket, logger,
      backoff: { initialMs: 100, maxMs: 1000, resetAfterMs: 30_000 },
      onRestart: async () => {
        await program();
        replayed++;
      },
    }));
    await p.start();
    const first = p.pid!;
    expect(alive(first)).toBe(true);
    await program();
    expect((await call(s.port, '/fn/hello/')).body.who).toBe('i1');

    process.kill(first, 'SIGKILL');
    await until('HAProxy restarted and its state replayed', () => (replayed === 1 ? true : undefined), 10_000);
    expect(p.restarts).toBe(1);
    expect(p.pid).not.toBe(first);
    expect(alive(first)).toBe(false);
    expect((await call(s.port, '/fn/hello/')).body.who).toBe('i1');
    expect(logger.lines.find((l) => l.level === 'warn')?.msg).toMatch(/exited unexpectedly/);

    // Soft stop: a call under way is finished, not cut, and no SIGTERM is needed for it.
    const second = p.pid!;
    const open = i1.hold();
    const underWay = call(s.port, '/fn/hello/');
    await until('a held call on i1', () => (i1.active === 1 ? true : undefined));
    const stopped = p.stop(5000);
    await new Promise((r) => setTimeout(r, 200));
    expect(alive(second)).toBe(true);
    open();
    expect((await underWay).status).toBe(200);
    await stopped;
    expect(logger.lines.some((l) => /SIGTERM/.test(l.msg))).toBe(false);
    expect(p.pid).toBeUndefined();
    expect(alive(second)).toBe(false);
    // No restart after stop: nothing comes back on the runtime socket.
    await new Promise((r) => setTimeout(r, 400));
    expect(p.restarts).toBe(1);
    await expect(runtime.showInfo()).rejects.toThrow();
  });

  it('refuses a broken config with HAProxy\'s words and the line it names, before starting anything', async () => {
    const s = (setup = await prepareNativeProxy({ slots: 1 }));
    const lines = fs.readFileSync(s.files.config, 'utf8').split('\n');
    const at = lines.findIndex((l) => l.startsWith('defaults'));
    lines.splice(at + 1, 0, '  timeout nonsense 5s');
    fs.writeFileSync(s.files.config, lines.join('\n'));
    const p = (supervised = new HaproxyProcess({ binary: haproxyBinary(), configPath: s.files.config, runtimeSocket: s.files.runtimeSocket, logger: recordingLogger() }));
    const err = await p.start().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HaproxyConfigError);
    expect((err as HaproxyConfigError).line).toBe(at + 2);
    expect((err as HaproxyConfigError).output).toMatch(/timeout/);
    expect((err as HaproxyConfigError).message).toContain(`line ${at + 2}`);
    expect(p.pid).toBeUndefined();
  });
});
