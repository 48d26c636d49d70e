#!/usr/bin/env node
// The `stratus` command: parses the command line, runs the command, and turns whatever went wrong into
// one line on stderr and an exit code (cli/errors.ts). Runs as dist/cli/main.js (npm's bin) and in dev
// as `npx tsx cli/main.ts`.

import fs from 'node:fs';
import os from 'node:os';
import { CommanderError } from 'commander';
import { createContext } from './context.js';
import { CliError, EXIT } from './errors.js';
import { buildProgram } from './program.js';
import { safeLine, safeText } from './terminal-text.js';
import { Ui } from './ui.js';

/** The package's version, from package.json one or two levels up (cli/ in dev, dist/cli/ once built). */
function packageVersion(): string {
  for (const rel of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'stratus' && pkg.version) return pkg.version;
    } catch {
      // not at this level
    }
  }
  return '0.0.0';
}

async function main(): Promise<number> {
  const ui = new Ui(process.stdout, process.stderr, process.env);
  const ctx = createContext(ui, { env: process.env, cwd: process.cwd(), home: os.homedir() }, process.stdin);
  try {
    await buildProgram(ctx, packageVersion()).parseAsync(process.argv);
    return EXIT.ok;
  } catch (err) {
    ui.stopSpinner();
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage; // commander printed it
    if (err instanceof CliError) {
      // One line, whatever it quotes (a problem's detail, a function's error answer): shown safe.
      ui.warn(`${ui.bad('error:')} ${safeLine(err.message)}`);
      return err.exitCode;
    }
    ui.warn(`${ui.bad('error:')} unexpected: ${safeText(err instanceof Error ? (err.stack ?? err.message) : String(err))}`);
    return EXIT.failed;
  }
}

// exitCode, not exit(): what is still buffered for a pipe is written before the process ends.
process.exitCode = await main();
