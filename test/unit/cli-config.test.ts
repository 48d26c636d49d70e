// Where the CLI finds Stratus: each of URL and key from the environment, else the file `stratus login`
// writes (XDG_CONFIG_HOME honoured), else .stratus/api-key in the working directory with npm start's
// address; nothing at all is a usage error saying how to configure it. The file is written 0600.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { configFilePath, LOCAL_URL, resolveConnection, saveLogin, type ConfigSources } from '../../cli/config.js';
import { CliError, EXIT } from '../../cli/errors.js';

let root: string;
let src: ConfigSources;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-cli-config-'));
  await fs.mkdir(path.join(root, 'home'));
  await fs.mkdir(path.join(root, 'work'));
  src = { env: {}, cwd: path.join(root, 'work'), home: path.join(root, 'home') };
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

const writeLocalKey = async (key: string) => {
  await fs.mkdir(path.join(src.cwd, '.stratus'), { recursive: true });
  await fs.writeFile(path.join(src.cwd, '.stratus', 'api-key'), `${key}\n`);
};
const usage = async (p: Promise<unknown>) => {
  const err = await p.catch((e: unknown) => e);
  expect(err).toBeInstanceOf(CliError);
  expect((err as CliError).exitCode).toBe(EXIT.usage);
  return (err as CliError).message;
};

describe('stratus CLI: configuration', () => {
  it('with nothing configured, says to run stratus login or set STRATUS_URL', async () => {
    expect(await usage(resolveConnection(src))).toMatch(/run `stratus login --url URL --key KEY` or set STRATUS_URL/);
  });

  it('finds .stratus/api-key in the working directory and uses npm start\'s address', async () => {
    await writeLocalKey('sk_local_key_0123456789');
    expect(await resolveConnection(src)).toMatchObject({ url: LOCAL_URL, apiKey: 'sk_local_key_0123456789', keyFrom: path.join(src.cwd, '.stratus', 'api-key') });
  });

  it('prefers the login file to the working directory, and the environment to both, field by field', async () => {
    await writeLocalKey('sk_local_key_0123456789');
    await saveLogin(src, 'http://127.0.0.1:9999', 'sk_saved_key_0123456789');
    expect(await resolveConnection(src)).toMatchObject({ url: 'http://127.0.0.1:9999', apiKey: 'sk_saved_key_0123456789', keyFrom: configFilePath(src) });
    src.env.STRATUS_API_KEY = 'sk_env_key_0123456789';
    expect(await resolveConnection(src)).toMatchObject({ url: 'http://127.0.0.1:9999', apiKey: 'sk_env_key_0123456789', keyFrom: 'STRATUS_API_KEY' });
    src.env.STRATUS_URL = 'http://127.0.0.1:7777/';
    expect(await resolveConnection(src)).toMatchObject({ url: 'http://127.0.0.1:7777', urlFrom: 'STRATUS_URL' });
  });

  it('keeps the login file under XDG_CONFIG_HOME when it is absolute, else under ~/.config', async () => {
    expect(configFilePath(src)).toBe(path.join(src.home, '.config', 'stratus', 'config.json'));
    src.env.XDG_CONFIG_HOME = path.join(root, 'xdg');
    expect(configFilePath(src)).toBe(path.join(root, 'xdg', 'stratus', 'config.json'));
    src.env.XDG_CONFIG_HOME = 'relative/dir';
    expect(configFilePath(src)).toBe(path.join(src.home, '.config', 'stratus', 'config.json'));
  });

  it('writes the login file readable by its owner only, also over an older file with looser bits', async () => {
    src.env.XDG_CONFIG_HOME = path.join(root, 'xdg');
    const file = configFilePath(src);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, '{}', { mode: 0o644 });
    await saveLogin(src, 'http://127.0.0.1:8080', 'sk_saved_key_0123456789');
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    expect(JSON.parse(await fs.readFile(file, 'utf8'))).toEqual({ url: 'http://127.0.0.1:8080', apiKey: 'sk_saved_key_0123456789' });
    const fresh = { ...src, env: { XDG_CONFIG_HOME: path.join(root, 'other') } };
    await saveLogin(fresh, 'http://127.0.0.1:8080', 'k');
    expect((await fs.stat(path.dirname(configFilePath(fresh)))).mode & 0o777).toBe(0o700);
  });

  it('names the file or variable that holds something unusable', async () => {
    src.env.STRATUS_URL = 'localhost:8080';
    expect(await usage(resolveConnection(src))).toMatch(/^STRATUS_URL: .*must be an http:\/\/ or https:\/\/ URL/);
    delete src.env.STRATUS_URL;
    await fs.mkdir(path.dirname(configFilePath(src)), { recursive: true });
    await fs.writeFile(configFilePath(src), '{ url: nope');
    expect(await usage(resolveConnection(src))).toContain(`${configFilePath(src)} is not valid JSON`);
  });
});
