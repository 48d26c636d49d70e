// The one function every section runs, so gateway, direct and floor figures are about the same code.
// It answers at once with a 2-byte body; ?sleep=MS holds the slot (bounded) for the scale-up step.

import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const FUNCTION_FILE = 'index.mjs';

export const FUNCTION_SOURCE = `// Stratus benchmark function.
export default async function (event) {
  const sleep = Math.min(Number(event.query && event.query.sleep) || 0, 5000);
  if (sleep > 0) await new Promise((r) => setTimeout(r, sleep));
  return { statusCode: 200, headers: { 'content-type': 'text/plain' }, body: 'ok' };
}
`;

/**
 * Writes the function into a fresh host dir readable by the container's uid (10001), for the floor
 * that mounts the code into a plain runtime container. Returns the dir; the caller removes it.
 */
export async function writeCodeDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'stratus-bench-code-'));
  await fs.chmod(dir, 0o755);
  const file = path.join(dir, FUNCTION_FILE);
  await fs.writeFile(file, FUNCTION_SOURCE);
  await fs.chmod(file, 0o644);
  return dir;
}
