// Function logs end to end on real Docker, Redis and the registry: what a function writes during a call
// is found again with GET /v1/functions/:name/logs?requestId=<that call's x-stratus-request-id>, and a
// crashing function's last stderr lines are kept too.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { e2eConfig } from '../support/e2e-config.js';
import { silentLogger } from '../../core/log.js';
import type { LogRecord } from '../../core/types.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';
import { missing } from '../support/services.js';

describe.skipIf(await missing('docker', 'redis', 'registry', 'runtime-images'))('function logs (Docker, Redis, registry)', () => {
  let stateDir: string;
  let platform: RunningPlatform;
  const suffix = Date.now().toString(36);
  const names = { talk: `logs-talk-${suffix}`, crash: `logs-crash-${suffix}` };
  const auth = () => ({ authorization: `Bearer ${platform.apiKey}` });

  beforeAll(async () => {
    stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-logs-'));
    platform = await startPlatform(
      e2eConfig(stateDir),
      silentLogger,
    );
  });

  afterAll(async () => {
    if (platform) {
      for (const name of Object.values(names)) await fetch(`${platform.url}/v1/functions/${name}`, { method: 'DELETE', headers: auth() });
      await platform.stop();
    }
    await fs.rm(stateDir, { recursive: true, force: true });
  });

  const deploy = async (name: string, code: string) => {
    const res = await deployFunction(platform, { name, runtime: 'node' }, { file: 'index.js', content: code });
    expect(res.status).toBe(202);
    const build = await waitForBuild(platform, (await res.json()).buildId);
    expect(build.status, build.error ?? '').toBe('succeeded');
  };

  const logs = async (name: string, query = ''): Promise<LogRecord[]> => {
    const res = await fetch(`${platform.url}/v1/functions/${name}/logs${query}`, { headers: auth() });
    expect(res.status).toBe(200);
    return ((await res.json()) as { logs: LogRecord[] }).logs;
  };

  /** Lines reach the store in batches: poll (bounded) until the expected ones are there. */
  const logsUntil = async (name: string, query: string, done: (l: LogRecord[]) => boolean): Promise<LogRecord[]> => {
    const until = Date.now() + 10_000;
    for (;;) {
      const found = await logs(name, query);
      if (done(found) || Date.now() > until) return found;
      await new Promise((r) => setTimeout(r, 100));
    }
  };

  it('keeps each call\'s lines under its request id', async () => {
    await deploy(names.talk, 'export default async (event) => { console.log(`hello ${event.query.tag}`); console.warn(`careful ${event.query.tag}`); return { ok: true }; }');
    const first = await fetch(`${platform.url}/fn/${names.talk}?tag=first`);
    expect(first.status).toBe(200);
    const second = await fetch(`${platform.url}/fn/${names.talk}?tag=second`);
    expect(second.status).toBe(200);
    const firstId = first.headers.get('x-stratus-request-id')!;
    const secondId = second.headers.get('x-stratus-request-id')!;

    // stdout and stderr are two streams: lines keep their order within a stream, not across the two.
    const mine = await logsUntil(names.talk, `?requestId=${firstId}`, (l) => l.length >= 2);
    expect(mine.map((l) => [l.message, l.level, l.stream]).sort()).toEqual([['careful first', 'warn', 'stderr'], ['hello first', 'info', 'stdout']]);
    expect(mine[0]).toMatchObject({ function: names.talk, version: 1, requestId: firstId });
    expect(mine[0]!.instance).toBeTruthy();

    const all = await logsUntil(names.talk, '', (l) => l.filter((x) => x.requestId === secondId).length >= 2);
    expect(all.filter((l) => l.requestId === secondId).map((l) => l.message).sort()).toEqual(['careful second', 'hello second']);
    expect(all.filter((l) => l.message.includes('second')).every((l) => l.requestId === secondId)).toBe(true);
    const newest = await logs(names.talk, `?requestId=${firstId}&limit=1`);
    expect(newest).toHaveLength(1);
    expect(newest[0]!.message).toBe(mine[mine.length - 1]!.message);
  });

  it('keeps a crashing function\'s stderr before it exited, and the 502 points at it', async () => {
    await deploy(names.crash, "export default async () => { console.error('about to crash'); process.stderr.write('raw last words\\n'); process.exit(3); }");
    const res = await fetch(`${platform.url}/fn/${names.crash}`);
    expect(res.status).toBe(502);
    const rid = res.headers.get('x-stratus-request-id')!;
    const problem = await res.json();
    expect(problem.code).toBe('FUNCTION_CRASHED');
    expect(problem.detail).toContain(`GET /v1/functions/${names.crash}/logs?requestId=${rid}`);

    const mine = await logsUntil(names.crash, `?requestId=${rid}`, (l) => l.length > 0);
    expect(mine.map((l) => [l.message, l.level, l.stream])).toEqual([['about to crash', 'error', 'stderr']]);
    const all = await logsUntil(names.crash, '', (l) => l.some((x) => x.message === 'raw last words'));
    expect(all.find((l) => l.message === 'raw last words')).toMatchObject({ requestId: null, level: 'error', stream: 'stderr' });
  });

  it('answers 404 for the logs of an unknown function, and deletes logs with the function', async () => {
    expect((await fetch(`${platform.url}/v1/functions/nope-${suffix}/logs`, { headers: auth() })).status).toBe(404);
    expect((await fetch(`${platform.url}/v1/functions/${names.talk}`, { method: 'DELETE', headers: auth() })).status).toBe(204);
    expect((await fetch(`${platform.url}/v1/functions/${names.talk}/logs`, { headers: auth() })).status).toBe(404);
  });
});
