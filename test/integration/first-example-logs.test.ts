// The tutorial's first example (docs/tutorial.md, "A first function": one index.js with `export default`) leaves no
// error in the function's log (issue 11, item 6). It used to: its tree got a package.json without
// "type", and Node's MODULE_TYPELESS_PACKAGE_JSON notice on stderr was stored as an error line at every
// start. A real platform (process backend, real builder, the runtime, the log collector), no service.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../core/config.js';
import { silentLogger } from '../../core/log.js';
import { startPlatform, type RunningPlatform } from '../../platform/start-platform.js';
import { deployFunction, waitForBuild } from '../support/platform-client.js';

// Verbatim from docs/tutorial.md.
const HELLO = "export default async function (event, context) {\n  return { message: `hello ${event.query.name ?? 'world'}`, requestId: context.requestId };\n}\n";

describe("the tutorial's first example", () => {
  let stateDir: string;
  let platform: RunningPlatform;
  beforeAll(async () => {
    stateDir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-first-example-'));
    platform = await startPlatform(
      loadConfig({ STRATUS_PORT: '0', STRATUS_STATE_DIR: stateDir, STRATUS_API_KEY: 'test-key-0123456789abcdef', STRATUS_STORE: 'memory', STRATUS_BACKEND: 'process', STRATUS_STEM_POOL_SIZE: '0', PATH: process.env.PATH }),
      silentLogger,
    );
  });
  afterAll(async () => {
    await platform?.stop();
    fs.rmSync(stateDir, { recursive: true, force: true });
  });

  it('is in the tutorial as tested here', () => {
    expect(fs.readFileSync(path.resolve(import.meta.dirname, '../../docs/tutorial.md'), 'utf8')).toContain(HELLO);
  });

  it('answers, and its log holds the instance\'s lines but no error', async () => {
    const res = await deployFunction(platform, { name: 'hello', runtime: 'node' }, { file: 'index.js', content: HELLO });
    const build = await waitForBuild(platform, ((await res.json()) as { buildId: string }).buildId, 60_000);
    expect(build.status, build.error ?? '').toBe('succeeded');
    const answer = await fetch(`${platform.url}/fn/hello?name=you`);
    expect(await answer.json()).toMatchObject({ message: 'hello you' });
    const readLogs = async () =>
      ((await (await fetch(`${platform.url}/v1/functions/hello/logs`, { headers: { authorization: `Bearer ${platform.apiKey}` } })).json()) as { logs: Array<{ level: string; message: string }> }).logs;
    // The runtime's "listening" notice shows the instance's start-up lines were collected (every ~250 ms).
    let logs = await readLogs();
    for (let i = 0; i < 200 && !logs.some((l) => l.message.includes('listening on')); i++) {
      await new Promise((r) => setTimeout(r, 25));
      logs = await readLogs();
    }
    expect(logs.some((l) => l.message.includes('listening on'))).toBe(true);
    expect(logs.filter((l) => l.level === 'error' || l.level === 'warn')).toEqual([]);
    expect(logs.map((l) => l.message).join('\n')).not.toMatch(/MODULE_TYPELESS_PACKAGE_JSON/);
  });
});
