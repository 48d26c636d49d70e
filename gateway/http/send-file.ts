// res.sendFile for a path the server built itself. Given an absolute path alone, express's `send` applies its
// dotfile rule to every part of it, so a file under a dot directory — the default state dir is `.stratus`,
// and a clone may sit under `~/.local/…` — is refused as if the caller had asked for a hidden file. With
// the folder as `root` the rule sees only the file's own name, which is ours.

import path from 'node:path';
import type { Response } from 'express';

export function sendOwnFile(res: Response, file: string, headers?: Record<string, string>): void {
  res.sendFile(path.basename(file), { root: path.dirname(file), ...(headers ? { headers } : {}) });
}
