// The admin API key: STRATUS_API_KEY when set; otherwise generated on first start, kept in the state dir
// (mode 0600) and printed once, so a newcomer can copy it from the terminal and find it again in the file.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../core/log.js';

export interface ApiKeyResolution {
  key: string;
  source: 'env' | 'file' | 'generated';
  file: string;
}

export async function resolveApiKey(fromEnv: string | undefined, stateDir: string, logger: Logger): Promise<ApiKeyResolution> {
  const file = path.join(stateDir, 'api-key');
  if (fromEnv) return { key: fromEnv, source: 'env', file };
  try {
    const key = (await fs.readFile(file, 'utf8')).trim();
    if (key.length >= 16) return { key, source: 'file', file };
    logger.warn('the saved API key is too short; generating a new one', { file });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const key = `sk_${crypto.randomBytes(24).toString('base64url')}`;
  await fs.mkdir(stateDir, { recursive: true });
  await fs.writeFile(file, key + '\n', { mode: 0o600 });
  return { key, source: 'generated', file };
}
