// Instance ids of function instances. An id becomes a directory name under the backend's run dir (and so
// part of a unix socket path, at most 107 bytes), a container name and a pod name; the run dir is chosen
// so that ids up to ASSUMED_MAX_ID_LENGTH fit. So an id's length must not follow the function name's:
// it keeps a prefix of the name for people reading `docker ps`, the version and a random part, and is at
// most 16 + 2 + 16 + 1 + 12 = 47 characters for any valid name and version.

import { randomBytes } from 'node:crypto';
import { ASSUMED_MAX_ID_LENGTH } from './backends/instance-dir.js';

const NAME_PREFIX = 16;

export function functionInstanceId(fn: string, version: number): string {
  const name = fn.slice(0, NAME_PREFIX).replace(/-+$/, '');
  const id = `${name}-v${version}-${randomBytes(6).toString('hex')}`;
  // Unreachable with a valid name and a safe-integer version; a guard against a later change of either.
  if (id.length > ASSUMED_MAX_ID_LENGTH) throw new Error(`instance id ${id} is longer than ${ASSUMED_MAX_ID_LENGTH} characters`);
  return id;
}
