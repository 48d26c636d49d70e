// The admin API key: STRATUS_API_KEY when set; otherwise generated on first start, kept in the state dir
// (mode 0600) and printed once, so a newcomer can copy it from the terminal and find it again in the file.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { StratusError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import { StateLayout } from '../../core/state-layout.js';

export interface ApiKeyResolution {
  key: string;
  source: 'env' | 'file' | 'generated';
  file: string;
}

export async function resolveApiKey(fromEnv: string | undefined, stateDir: string, logger: Logger): Promise<ApiKeyResolution> {
  const file = new StateLayout(stateDir).apiKey;
  if (fromEnv) return { key: fromEnv, source: 'env', file };
  const handle = await fs.open(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    if (err.code === 'ELOOP') throw new StratusError('INVALID_CONFIG', `${file} is a symbolic link; the admin key file must be a plain file (remove it to generate a new key)`, { field: 'STRATUS_STATE_DIR' });
    throw err;
  });
  if (handle) {
    try {
      await tightenKeyFile(handle, file, logger);
      const key = (await handle.readFile('utf8')).trim();
      if (key.length >= 16) return { key, source: 'file', file };
      logger.warn('the saved API key is too short; generating a new one', { file });
    } finally {
      await handle.close();
    }
  }
  const key = `sk_${crypto.randomBytes(24).toString('base64url')}`;
  await fs.mkdir(stateDir, { recursive: true });
  // A too-short file is replaced by a new one rather than rewritten in place, so its old mode goes too.
  await fs.rm(file, { force: true });
  await fs.writeFile(file, key + '\n', { mode: 0o600, flag: 'wx' });
  return { key, source: 'generated', file };
}

/**
 * The key grants everything: a copy made readable to others (an editor, a restore from backup, an older
 * Stratus) is made 0600 again. A file owned by another user is refused: that user could have chosen the
 * key, or read it, and chmod would not keep them out.
 */
async function tightenKeyFile(handle: fs.FileHandle, file: string, logger: Logger): Promise<void> {
  const st = await handle.stat();
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new StratusError('INVALID_CONFIG', `${file} belongs to uid ${st.uid}, not to the uid Stratus runs as (${uid}); whoever owns it can read or replace the admin key. Remove it to generate a new key, or set STRATUS_API_KEY`, { field: 'STRATUS_STATE_DIR' });
  }
  if ((st.mode & 0o077) !== 0) {
    await handle.chmod(0o600);
    logger.warn(`the admin key file was readable by others (mode ${(st.mode & 0o777).toString(8)}); it is now 0600. Consider the key exposed and replace it if others use this machine`, { file });
  }
}
