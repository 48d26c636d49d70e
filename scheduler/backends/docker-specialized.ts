// A specialized stem keeps its container labels (role stem, no function): Docker cannot change labels on
// a running container. So what it serves since POST /init is written into its instance dir, and list()
// reads it back, letting a restarted platform adopt the instance instead of removing it as a stem.

import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { InstanceHandle } from './backend.js';
import { instanceDir } from './instance-dir.js';

function specializedFile(runDir: string, instanceId: string): string {
  return path.join(instanceDir(runDir, instanceId), 'specialized.json');
}

/** Called while staging code: records the function and version when the handle is a specialized one. */
export async function recordSpecialized(runDir: string, handle: InstanceHandle): Promise<void> {
  if (handle.role !== 'function' || handle.function === null || handle.version === null) return;
  await fs.writeFile(specializedFile(runDir, handle.instanceId), JSON.stringify({ function: handle.function, version: handle.version }));
}

/** What a specialized stem serves, as identity fields; {} for a plain stem (or an unreadable record). */
export async function readSpecialized(runDir: string, instanceId: string): Promise<Partial<Pick<InstanceHandle, 'role' | 'function' | 'version'>>> {
  try {
    const v = JSON.parse(await fs.readFile(specializedFile(runDir, instanceId), 'utf8')) as { function?: unknown; version?: unknown };
    return typeof v.function === 'string' && typeof v.version === 'number' ? { role: 'function', function: v.function, version: v.version } : {};
  } catch {
    return {};
  }
}
