// GET /v1/functions/NAME/versions/N/source and …/source/files: the upload as it was sent, and its text files
// within bounds (a huge or a binary file is listed without its text), over the gateway harness. The fake
// builder does not keep sources: `keep` puts the upload where the real build moves it (StateLayout.source),
// as builder-service.test.ts checks it does. Deleting the function removes it (the real Purger).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Purger } from '../../builder/purge.js';
import { silentLogger } from '../../core/log.js';
import { StateLayout } from '../../core/state-layout.js';
import { readBounded } from '../../control/functions/version-sources.js';
import { makeZip } from '../fixtures/archives/make-archives.js';
import { auth, startHarness, type Harness } from '../support/gateway-harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

/** Deploys through the API and keeps the upload where its build would; returns the version. */
async function deployKept(name: string, code: Buffer, fileName: string): Promise<{ version: number; buildId: string }> {
  const res = await request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify({ name, runtime: 'node' })).attach('code', code, fileName);
  expect(res.status).toBe(202);
  const dir = new StateLayout(h.config.stateDir).source(name, res.body.buildId);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, fileName), code);
  await h.builder.succeed(res.body.buildId);
  return { version: res.body.version, buildId: res.body.buildId };
}

describe('a version\'s source', () => {
  it('is given back as uploaded, as a download named as uploaded', async () => {
    const zip = makeZip([{ name: 'index.js', data: 'export default () => 1;\n' }, { name: 'lib/util.js', data: 'export const x = 2;\n' }]);
    const { version } = await deployKept('hello', zip, 'app.zip');
    const res = await request(h.app).get(`/v1/functions/hello/versions/${version}/source`).set(auth).buffer(true).parse((r, cb) => {
      const chunks: Buffer[] = [];
      r.on('data', (c: Buffer) => chunks.push(c));
      r.on('end', () => cb(null, Buffer.concat(chunks)));
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/zip');
    expect(res.headers['content-disposition']).toBe('attachment; filename="app.zip"');
    expect(Buffer.compare(res.body as Buffer, zip)).toBe(0);

    const files = await request(h.app).get(`/v1/functions/hello/versions/${version}/source/files`).set(auth);
    expect(files.status).toBe(200);
    expect(files.body).toEqual({
      function: 'hello', version, sourceName: 'app.zip', singleFile: null, truncated: false,
      files: [{ path: 'index.js', bytes: 24, text: 'export default () => 1;\n' }, { path: 'lib/util.js', bytes: 20, text: 'export const x = 2;\n' }],
    });
  });

  it('is given back when the state dir is a dot directory (the default is .stratus)', async () => {
    await h.close();
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-dot-'));
    h = await startHarness({ STRATUS_STATE_DIR: path.join(root, '.stratus') });
    try {
      const { version } = await deployKept('dotted', Buffer.from('export default () => 1;\n'), 'index.mjs');
      const res = await request(h.app).get(`/v1/functions/dotted/versions/${version}/source`).set(auth);
      expect(res.status).toBe(200);
      expect(res.text).toBe('export default () => 1;\n');
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('a config-only version (PATCH) gives its build\'s source; a single file says its name', async () => {
    const { version } = await deployKept('one', Buffer.from('export default () => "one";\n'), 'index.mjs');
    const patched = await request(h.app).patch('/v1/functions/one').set(auth).send({ memoryMb: 512 });
    expect(patched.status).toBe(200);
    expect(patched.body.version).toBe(version + 1);
    const files = await request(h.app).get(`/v1/functions/one/versions/${version + 1}/source/files`).set(auth);
    expect(files.body).toMatchObject({ singleFile: 'index.mjs', files: [{ path: 'index.mjs', text: 'export default () => "one";\n' }] });
    const raw = await request(h.app).get(`/v1/functions/one/versions/${version + 1}/source`).set(auth);
    expect(raw.headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect(raw.text).toBe('export default () => "one";\n');
  });

  it('lists a huge and a binary file without their text', async () => {
    const huge = 'x'.repeat(300 * 1024);
    const binary = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x00, 0x01, 0x02]);
    const zip = makeZip([{ name: 'index.js', data: 'export default () => 1;\n' }, { name: 'big.txt', data: huge }, { name: 'logo.png', data: binary }]);
    const { version } = await deployKept('mixed', zip, 'code.zip');
    const res = await request(h.app).get(`/v1/functions/mixed/versions/${version}/source/files`).set(auth);
    expect(res.status).toBe(200);
    expect(res.body.files).toEqual([
      { path: 'big.txt', bytes: huge.length, omitted: 'too-large' },
      { path: 'index.js', bytes: 24, text: 'export default () => 1;\n' },
      { path: 'logo.png', bytes: binary.length, omitted: 'binary' },
    ]);
    expect(JSON.stringify(res.body).length).toBeLessThan(2000);
  });

  it('bounds the number of files and the total', async () => {
    fs.mkdirSync(h.config.stateDir, { recursive: true });
    const dir = fs.mkdtempSync(path.join(h.config.stateDir, 'tree-'));
    for (let i = 0; i < 5; i++) fs.writeFileSync(path.join(dir, `f${i}.js`), 'a'.repeat(10));
    const few = await readBounded(dir, { maxFiles: 3, maxFileBytes: 100, maxTotalBytes: 25 });
    expect(few.truncated).toBe(true);
    expect(few.files.map((f) => [f.path, f.omitted ?? 'text'])).toEqual([['f0.js', 'text'], ['f1.js', 'text'], ['f2.js', 'total-exceeded']]);
  });

  it('answers a missing version, an unknown function, a bad number and an unkept source with their codes', async () => {
    const { version } = await deployKept('there', Buffer.from('export default () => 1;\n'), 'index.mjs');
    const missing = await request(h.app).get(`/v1/functions/there/versions/${version + 5}/source`).set(auth);
    expect([missing.status, missing.body.code]).toEqual([404, 'NOT_FOUND']);
    const unknown = await request(h.app).get('/v1/functions/nobody/versions/1/source/files').set(auth);
    expect([unknown.status, unknown.body.code]).toEqual([404, 'FUNCTION_NOT_FOUND']);
    const bad = await request(h.app).get('/v1/functions/there/versions/one/source').set(auth);
    expect([bad.status, bad.body.code, bad.body.field]).toEqual([400, 'INVALID_REQUEST', 'version']);
    // Still building: the upload is not kept yet.
    const building = await request(h.app).post('/v1/functions').set(auth).field('config', JSON.stringify({ name: 'there', runtime: 'node' })).attach('code', Buffer.from('export default () => 2;\n'), 'index.mjs');
    const notYet = await request(h.app).get(`/v1/functions/there/versions/${building.body.version}/source`).set(auth);
    expect([notYet.status, notYet.body.code]).toEqual([404, 'SOURCE_NOT_KEPT']);
    expect(notYet.body.detail).toMatch(/build has not read it yet/);
    const image = await request(h.app).post('/v1/functions').set(auth).send({ name: 'img', image: 'example/img:1' });
    const none = await request(h.app).get(`/v1/functions/img/versions/${image.body.version}/source`).set(auth);
    expect([none.status, none.body.code]).toEqual([404, 'SOURCE_NOT_KEPT']);
    expect(none.body.detail).toMatch(/image/);
    const noKey = await request(h.app).get(`/v1/functions/there/versions/${version}/source`);
    expect(noKey.status).toBe(401);
  });

  it('goes with the function: purging it removes the kept sources', async () => {
    const { buildId } = await deployKept('gone', Buffer.from('export default () => 1;\n'), 'index.mjs');
    const kept = new StateLayout(h.config.stateDir).source('gone', buildId);
    expect(fs.existsSync(kept)).toBe(true);
    await new Purger({ docker: null, registry: null, repositoryPath: (f) => f, repository: (f) => f, stateDir: h.config.stateDir, logger: silentLogger }).purge('gone');
    expect(fs.existsSync(kept)).toBe(false);
  });
});
