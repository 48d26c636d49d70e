import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from './core/log.js';
import { startPlatform } from './platform/start-platform.js';
import { e2eConfig } from './test/support/e2e-config.js';
import { deployFunction, waitForBuild } from './test/support/platform-client.js';
import { HaproxyRuntime } from './gateway/native/haproxy-runtime.js';
const stateDir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-try-'));
const p = await startPlatform(e2eConfig(stateDir, { STRATUS_DATA_PLANE: 'native' }), createLogger({ level: 'debug' }));
const rt = new HaproxyRuntime(path.join(stateDir, 'native/runtime.sock'));
const res = await deployFunction(p, { name: 'hello', runtime: 'node', memoryMb: 128 }, { file: 'index.mjs', content: 'export default async (e, ctx) => ({ hi: 1 });' });
await waitForBuild(p, (await res.json()).buildId);
for (let i = 0; i < 5; i++) { const r = await fetch(`${p.url}/fn/hello/x`); console.log('CALL', r.status); await new Promise((r) => setTimeout(r, 300)); }
console.log('STAT', JSON.stringify((await rt.showStat()).filter(r => r.pxname !== 'stats').map(r => [r.pxname, r.svname, r.stot, r.scur, r.status])));
console.log('MAP', [...(await rt.showMap(path.join(stateDir, 'native/routes.map'))).entries()]);
console.log('SRV', JSON.stringify(await rt.showServersState()));
await fetch(`${p.url}/v1/functions/hello`, { method: 'DELETE', headers: { authorization: `Bearer ${p.apiKey}` } });
await p.stop();
