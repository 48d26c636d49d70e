import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkHandler, effectiveHandler } from '../../builder/handler.js';
import { parseFunctionConfig } from '../../core/function-config.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratus-handler-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const write = (rel: string) => {
  fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  fs.writeFileSync(path.join(dir, rel), '');
};

describe('effectiveHandler', () => {
  const node = parseFunctionConfig({ name: 'f', runtime: 'node' });
  it('takes the configured handler first', () => {
    expect(effectiveHandler({ ...node, handler: 'src/app.main' }, 'node', 'hello.js')).toBe('src/app.main');
  });
  it('names a single uploaded file after itself', () => {
    expect(effectiveHandler(node, 'node', 'hello.mjs')).toBe('hello.handler');
    expect(effectiveHandler(node, 'python', 'job.py')).toBe('job.handler');
  });
  it('falls back to the runtime default', () => {
    expect(effectiveHandler(node, 'node', null)).toBe('index.handler');
    expect(effectiveHandler(node, 'python', null)).toBe('main.handler');
  });
});

describe('checkHandler', () => {
  it('accepts any of index.js, index.mjs, index.cjs', async () => {
    write('index.cjs');
    await expect(checkHandler(dir, 'node', 'index.handler')).resolves.toBeUndefined();
  });
  it('finds nested node files and python packages', async () => {
    write('src/app.mjs');
    write('pkg/app/__init__.py');
    await expect(checkHandler(dir, 'node', 'src/app.main')).resolves.toBeUndefined();
    await expect(checkHandler(dir, 'python', 'pkg.app.run')).resolves.toBeUndefined();
  });
  it('refuses naming what is there', async () => {
    write('app.js');
    write('lib/x.js');
    await expect(checkHandler(dir, 'node', 'index.handler')).rejects.toMatchObject({
      code: 'INVALID_CONFIG',
      details: { field: 'config.handler' },
      message: expect.stringContaining('handler index.handler: no index.js, index.mjs or index.cjs at the top of the upload (found: app.js, lib/)'),
    });
    await expect(checkHandler(dir, 'python', 'main.handler')).rejects.toThrow(/no main.py or main\/__init__.py at the top of the upload/);
    await expect(checkHandler(dir, 'node', 'src/app.main')).rejects.toThrow(/in src\/ of the upload \(found: nothing\)/);
  });
  it('refuses handlers climbing out of the code', async () => {
    await expect(checkHandler(dir, 'node', '../etc/x.main')).rejects.toThrow(/outside the code/);
  });
});
