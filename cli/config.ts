// Where the CLI finds Stratus and its key. Each of the two is taken from the first place that has it:
//   1. the environment: STRATUS_URL, STRATUS_API_KEY;
//   2. the config file `stratus login` writes: $XDG_CONFIG_HOME/stratus/config.json (~/.config/… by default);
//   3. the working directory as `npm start` leaves it: .stratus/api-key, served on http://127.0.0.1:8080.
// Where each came from is kept, so an error can say which key was refused.

import fs from 'node:fs/promises';
import path from 'node:path';
import { usageError } from './errors.js';

/** What `npm start` listens on when nothing is configured. */
export const LOCAL_URL = 'http://127.0.0.1:8080';
export const LOCAL_KEY_FILE = path.join('.stratus', 'api-key');

export interface Connection {
  url: string;
  urlFrom: string;
  apiKey: string | undefined;
  keyFrom: string | undefined;
}

/** The parts of the process the resolution reads: passed in, so tests give their own. */
export interface ConfigSources {
  env: Record<string, string | undefined>;
  cwd: string;
  home: string;
}

interface ConfigFile {
  url?: string;
  apiKey?: string;
}

export function configFilePath(src: ConfigSources): string {
  const xdg = src.env.XDG_CONFIG_HOME;
  // The XDG spec says a relative XDG_CONFIG_HOME is invalid and to be ignored.
  const base = xdg && path.isAbsolute(xdg) ? xdg : path.join(src.home, '.config');
  return path.join(base, 'stratus', 'config.json');
}

/** A URL as the CLI uses it: http(s), no trailing slash. */
export function normaliseUrl(value: string, from: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw usageError(`${from}: "${value}" is not a URL; give one such as ${LOCAL_URL}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw usageError(`${from}: "${value}" must be an http:// or https:// URL`);
  return url.toString().replace(/\/+$/, '');
}

async function readConfigFile(file: string): Promise<ConfigFile | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw usageError(`cannot read ${file}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw usageError(`${file} is not valid JSON: fix it, or write it again with \`stratus login --url URL --key KEY\``);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw usageError(`${file} must hold a JSON object { "url": …, "apiKey": … }`);
  const { url, apiKey } = parsed as Record<string, unknown>;
  if ((url !== undefined && typeof url !== 'string') || (apiKey !== undefined && typeof apiKey !== 'string')) {
    throw usageError(`${file}: "url" and "apiKey" must be strings`);
  }
  return { url: url as string | undefined, apiKey: apiKey as string | undefined };
}

async function readLocalKey(cwd: string): Promise<string | undefined> {
  try {
    const key = (await fs.readFile(path.join(cwd, LOCAL_KEY_FILE), 'utf8')).trim();
    return key === '' ? undefined : key;
  } catch {
    return undefined;
  }
}

/** Resolves URL and key; a missing URL is a usage error saying how to configure one. A missing key is not (function URLs need none). */
export async function resolveConnection(src: ConfigSources): Promise<Connection> {
  const file = configFilePath(src);
  const saved = await readConfigFile(file);
  const localKey = await readLocalKey(src.cwd);
  const envUrl = src.env.STRATUS_URL?.trim();
  const envKey = src.env.STRATUS_API_KEY?.trim();

  let url: string | undefined;
  let urlFrom = '';
  if (envUrl) [url, urlFrom] = [normaliseUrl(envUrl, 'STRATUS_URL'), 'STRATUS_URL'];
  else if (saved?.url) [url, urlFrom] = [normaliseUrl(saved.url, file), file];
  else if (localKey) [url, urlFrom] = [LOCAL_URL, `npm start's address, as ${LOCAL_KEY_FILE} is here`];
  if (!url) {
    throw usageError(
      'no Stratus configured: run `stratus login --url URL --key KEY` or set STRATUS_URL and STRATUS_API_KEY ' +
        `(in the directory where \`npm start\` runs, ${LOCAL_KEY_FILE} is found by itself)`,
    );
  }

  let apiKey: string | undefined;
  let keyFrom: string | undefined;
  if (envKey) [apiKey, keyFrom] = [envKey, 'STRATUS_API_KEY'];
  else if (saved?.apiKey) [apiKey, keyFrom] = [saved.apiKey, file];
  else if (localKey) [apiKey, keyFrom] = [localKey, path.join(src.cwd, LOCAL_KEY_FILE)];
  return { url, urlFrom, apiKey, keyFrom };
}

/**
 * Writes the config file `stratus login` keeps: the key is a secret, so the file is 0600 in a 0700
 * directory, written whole to a temporary file and renamed (a reader never sees half of it, and an
 * older file with looser bits is replaced rather than rewritten in place).
 */
export async function saveLogin(src: ConfigSources, url: string, apiKey: string): Promise<string> {
  const file = configFilePath(src);
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    await fs.writeFile(tmp, JSON.stringify({ url, apiKey } satisfies ConfigFile, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    await fs.chmod(tmp, 0o600); // the umask may have narrowed the mode, never widened it; set it exactly
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
  return file;
}
