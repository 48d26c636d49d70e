// The README's bash blocks as tests run them: a section's blocks in order, the "# {…}" outputs they promise,
// and bash to run them with (-euo pipefail, output collected, killed past a bound).

import { spawn } from 'node:child_process';

/** The bash blocks of one README section, in order. */
export function bashBlocks(markdown: string, heading: string): string[] {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`README has no section "${heading}"`);
  const end = markdown.indexOf('\n## ', start + 1);
  const section = markdown.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```bash\n([\s\S]*?)```/g)].map((m) => m[1]!);
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

export function runBash(script: string, cwd: string, timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-euo', 'pipefail', '-c', script], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (out += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}
