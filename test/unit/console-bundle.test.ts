// The console's editor bundle (scripts/build-console.mjs): built when absent, left alone when current,
// built again when a browser source (or the lock file) is newer; and /ui/assets/console.js serves the real
// one, CodeMirror inside, behind the session.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs build script, no types
import { buildConsole, consolePaths } from '../../scripts/build-console.mjs';
import { auth, startHarness } from '../support/gateway-harness.js';

let root: string;
const past = new Date(Date.now() - 60_000);

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-console-bundle-'));
  const { entry } = consolePaths(root) as { entry: string };
  await fs.mkdir(path.dirname(entry), { recursive: true });
  await fs.writeFile(entry, "import { part } from './part.js';\ndocument.title = part;\n");
  await fs.writeFile(path.join(path.dirname(entry), 'part.js'), "export const part = 'one';\n");
  await fs.writeFile(path.join(root, 'package-lock.json'), '{}');
  for (const f of [entry, path.join(path.dirname(entry), 'part.js'), path.join(root, 'package-lock.json')]) await fs.utimes(f, past, past);
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('the console bundle', () => {
  it('is built when absent, kept when current, built again when a source is newer', async () => {
    const first = (await buildConsole({ root })) as { out: string; built: boolean };
    expect(first.built).toBe(true);
    expect(await fs.readFile(first.out, 'utf8')).toContain('"one"');
    expect(((await buildConsole({ root })) as { built: boolean }).built).toBe(false);
    const part = path.join(path.dirname(consolePaths(root).entry as string), 'part.js');
    await fs.writeFile(part, "export const part = 'two';\n");
    const later = new Date(Date.now() + 5_000); // newer than the bundle whatever the file system's clock grain
    await fs.utimes(part, later, later);
    const again = (await buildConsole({ root })) as { out: string; built: boolean };
    expect(again.built).toBe(true);
    expect(await fs.readFile(again.out, 'utf8')).toContain('"two"');
  });

  it('is served at /ui/assets/console.js with CodeMirror in it, to a signed-in page only', async () => {
    const h = await startHarness();
    try {
      const host = { host: '127.0.0.1:8080' };
      const anonymous = await request(h.app).get('/ui/assets/console.js').set(host);
      expect(anonymous.status).toBe(401);
      const login = await request(h.app).post('/ui/login').set({ ...host, origin: 'http://127.0.0.1:8080' }).type('form').send({ key: auth.Authorization.slice('Bearer '.length) });
      const cookie = String(login.headers['set-cookie']).split(';')[0]!;
      const res = await request(h.app).get('/ui/assets/console.js').set({ ...host, cookie });
      expect(res.status).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/javascript/);
      expect(res.text).toContain('cm-editor');
    } finally {
      await h.close();
    }
  }, 60_000);
});
