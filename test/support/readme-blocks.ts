// The docs' bash blocks as tests run them: a page's blocks in order, the "# {…}" outputs they promise,
// and bash to run them with (-euo pipefail, output collected, killed past a bound).

import { spawn } from 'node:child_process';

/** Every bash block of a markdown page, in order (```bash fences only: ```sh blocks are not run). */
export function bashBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/^```bash\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
}

/** "# {…}" comment lines as patterns: "…" stands for anything. */
export function promisedOutputs(blocks: string[]): RegExp[] {
  return blocks
    .flatMap((b) => b.split('\n'))
    .filter((line) => /^#\s*\{/.test(line.trim()))
    .map((line) => {
      const text = line.trim().replace(/^#\s*/, '');
      const pattern = text.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('.*?');
      return new RegExp(pattern);
    });
}

export interface BashRun {
  code: number | null;
  out: string;
  /** The process group the script led: every process it started, background servers included, is in it. */
  pgid: number;
}

/**
 * Runs a script in a process group of its own (so what it leaves running can be found, and killed by the
 * caller whatever happened), with stdout and stderr interleaved as a terminal would show them.
 */
export function runBash(script: string, opts: { cwd: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<BashRun> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), opts.timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out, pgid: child.pid! });
    });
  });
}

/** True while any process of the group is alive. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

export function killGroup(pgid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // already gone
  }
}
