// The deploy config: stratus.yaml (optional) beside the code, then the flags on top. The file holds the
// API's own config fields (name, runtime, handler, memoryMb, timeoutMs, env, …, triggers — docs/functions.md,
// "Function config", and docs/triggers.md); Stratus validates them and names a bad field, so the CLI does not
// keep a second copy of the rules. It only makes YAML's friendly scalars fit: an env value written as
// 8080 or true is sent as the string "8080" / "true".

import fs from 'node:fs/promises';
import path from 'node:path';
import YAML from 'yaml';
import { usageError } from './errors.js';

export const PROJECT_FILES = ['stratus.yaml', 'stratus.yml'];

export interface DeployFlags {
  name?: string;
  runtime?: string;
  handler?: string;
  memory?: string;
  timeout?: string;
  concurrency?: string;
  minInstances?: string;
  maxInstances?: string;
  env?: string[];
  config?: string;
}

export type DeployConfig = Record<string, unknown>;

/** Reads stratus.yaml (or the file --config names); an absent default file is an empty config. */
export async function readProjectFile(dir: string, explicit?: string): Promise<{ file: string | undefined; config: DeployConfig }> {
  const candidates = explicit ? [path.resolve(explicit)] : PROJECT_FILES.map((f) => path.join(dir, f));
  for (const file of candidates) {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !explicit) continue;
      throw usageError(`cannot read ${file}: ${(err as Error).message}`);
    }
    return { file, config: parseProjectYaml(text, file) };
  }
  return { file: undefined, config: {} };
}

export function parseProjectYaml(text: string, file: string): DeployConfig {
  let parsed: unknown;
  try {
    parsed = YAML.parse(text, { prettyErrors: true });
  } catch (err) {
    throw usageError(`${file} is not valid YAML: ${(err as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw usageError(`${file} must be a mapping of settings (name: hello, runtime: node, …)`);
  const config = { ...(parsed as DeployConfig) };
  if (config.env !== undefined) config.env = stringEnv(config.env, `${file}: env`);
  return config;
}

function stringEnv(env: unknown, where: string): Record<string, string> {
  if (typeof env !== 'object' || env === null || Array.isArray(env)) throw usageError(`${where} must be a mapping of NAME: value`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (v !== null && typeof v === 'object') throw usageError(`${where}.${k} must be a plain value, not a list or mapping`);
    out[k] = v === null ? '' : String(v);
  }
  return out;
}

const int = (flag: string, value: string): number => {
  if (!/^\d+$/.test(value)) throw usageError(`${flag} takes a whole number, not "${value}"`);
  return Number(value);
};

/** "30000", "30s", "2m", "500ms" → milliseconds. */
export function parseDurationMs(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw usageError(`${flag} takes milliseconds or a duration such as 30s, 2m, 500ms, not "${value}"`);
  const factor = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 'ms') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * factor);
}

/** The flag that sets each config field, to say where a refused field came from. */
const FLAG_OF: Record<string, keyof DeployFlags> = {
  name: 'name', runtime: 'runtime', handler: 'handler', memoryMb: 'memory', timeoutMs: 'timeout',
  concurrency: 'concurrency', minInstances: 'minInstances', maxInstances: 'maxInstances', env: 'env',
};

/** "config.memoryMb" → "--memory" or "stratus.yaml", whichever set it. */
export function sourceOfField(field: string, flags: DeployFlags, file: string | undefined): string | undefined {
  const key = /^config\.([^.]+)/.exec(field)?.[1];
  if (key === undefined) return undefined;
  const flag = FLAG_OF[key];
  if (flag !== undefined && flags[flag] !== undefined && !(Array.isArray(flags[flag]) && flags[flag].length === 0)) {
    return `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
  }
  return file ? path.basename(file) : undefined;
}

/** The file's config with the flags on top; --env merges into the file's env. */
export function applyFlags(config: DeployConfig, flags: DeployFlags): DeployConfig {
  const out = { ...config };
  if (flags.name !== undefined) out.name = flags.name;
  if (flags.runtime !== undefined) out.runtime = flags.runtime;
  if (flags.handler !== undefined) out.handler = flags.handler;
  if (flags.memory !== undefined) out.memoryMb = int('--memory', flags.memory);
  if (flags.timeout !== undefined) out.timeoutMs = parseDurationMs('--timeout', flags.timeout);
  if (flags.concurrency !== undefined) out.concurrency = int('--concurrency', flags.concurrency);
  if (flags.minInstances !== undefined) out.minInstances = int('--min-instances', flags.minInstances);
  if (flags.maxInstances !== undefined) out.maxInstances = int('--max-instances', flags.maxInstances);
  if (flags.env && flags.env.length > 0) {
    const env = { ...((out.env as Record<string, string> | undefined) ?? {}) };
    for (const pair of flags.env) {
      const eq = pair.indexOf('=');
      if (eq <= 0) throw usageError(`--env takes NAME=value, not "${pair}"`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    out.env = env;
  }
  return out;
}

/**
 * The runtime when neither file nor flag says: node for package.json or a .js/.mjs/.cjs file at the top,
 * python for main.py, requirements.txt or a .py file; undefined when both or neither fit.
 */
export async function guessRuntime(target: string, isFile: boolean): Promise<'node' | 'python' | undefined> {
  const names = isFile ? [path.basename(target)] : await fs.readdir(target);
  const node = names.some((n) => n === 'package.json' || /\.(m|c)?js$/.test(n));
  const python = names.some((n) => n === 'requirements.txt' || /\.py$/.test(n));
  if (node === python) return undefined;
  return node ? 'node' : 'python';
}

/** What must be there before anything is packed: a name, and a runtime unless an image is deployed. */
export function checkDeployConfig(config: DeployConfig, file: string | undefined): void {
  const where = file ? `add it to ${path.basename(file)}` : 'add it to a stratus.yaml';
  if (typeof config.name !== 'string' || config.name === '') throw usageError(`the function needs a name: ${where} (name: hello) or pass --name hello`);
  if (config.runtime === undefined) throw usageError(`say which runtime runs it: ${where} (runtime: node or python) or pass --runtime node`);
}
