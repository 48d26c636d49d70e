// The check stage of a build, after the install and before the image: lint, then the function's own
// tests — Node: ESLint (the function's eslint.config.js/.mjs/.cjs, or the default bug-only rules of
// runtime-images/checks-node/eslint.default.config.mjs) and `npm test` when package.json has a test
// script; Python: pyflakes and pytest when the function has tests. Every tool runs (a complete report
// beats a fast one), each in the check sandbox (checks-sandbox.ts). The report says what each found;
// the stage fails when any tool failed, with the tool and its first problems in the message.

import fsp from 'node:fs/promises';
import path from 'node:path';
import { CHECK_OUTPUT_KEPT, CHECK_PROBLEMS_KEPT, type CheckProblem, type CheckReport, type CheckResult, type CheckTool } from '../core/check-report.js';
import type { FunctionConfig } from '../core/function-config.js';
import type { Runtime } from '../core/types.js';
import { BuildFailure } from './build-failure.js';
import { parseEslintJson, parsePyflakes, parsePytest, parseTap } from './checks-parse.js';
import type { CheckSandbox, ToolRun } from './checks-sandbox.js';

export interface CheckTarget {
  runtime: Runtime;
  config: FunctionConfig;
  codeDir: string;
  buildId: string;
}

export interface CheckLog {
  line: (text: string) => void;
  /** A tool's raw output as it comes (test runners). */
  chunk: (data: Buffer) => void;
}

/** A check stage that failed: the message names the tool and its first problems; the report has them all. */
export class CheckFailure extends BuildFailure {
  /** @param summary the tools and their first problems, without the "checks failed:" the message starts with */
  constructor(readonly summary: string, buildId: string, readonly report: CheckReport) {
    super(`checks failed: ${summary} — the report is at /v1/builds/${buildId}/report`);
  }
}

/** What `npm init` writes: a test script that only fails. It is no test. */
const NPM_PLACEHOLDER_TEST = /no test specified/;
const OWN_ESLINT_CONFIGS = ['eslint.config.js', 'eslint.config.mjs', 'eslint.config.cjs'];
const NOT_CODE = new Set(['node_modules', '.python_packages', '__pycache__']);
const PROBLEMS_IN_MESSAGE = 3;

export class CheckStage {
  constructor(private readonly sandbox: CheckSandbox) {}

  /** The stage's verdict on a report (failureOf): a method, so the build job needs no value import of this module. */
  failureOf(report: CheckReport, buildId: string): CheckFailure | null {
    return failureOf(report, buildId);
  }

  /**
   * Whether the install must bring the devDependencies: the test runner of a test script and the
   * plugins of the function's own ESLint config are usually there (the checks have no network to
   * fetch them). The build prunes them again before the image.
   */
  async needsDevDependencies(t: Omit<CheckTarget, 'buildId'>): Promise<boolean> {
    if (t.runtime !== 'node') return false;
    const pkg = await packageJson(t.codeDir);
    if (!pkg || typeof pkg.devDependencies !== 'object' || pkg.devDependencies === null || Object.keys(pkg.devDependencies).length === 0) return false;
    const testsNeedThem = (t.config.checks?.test ?? true) && (await testScript(t.codeDir)) !== null;
    const lintNeedsThem = (t.config.checks?.lint ?? true) && (await ownEslintConfig(t.codeDir)) !== undefined;
    return testsNeedThem || lintNeedsThem;
  }

  /** Runs every check `config.checks` leaves on; resolves with the report, passed or not (see failureOf). */
  async run(t: CheckTarget, log: CheckLog, signal: AbortSignal): Promise<CheckReport> {
    const lint = t.config.checks?.lint ?? true;
    const test = t.config.checks?.test ?? true;
    if (lint || test) {
      await this.sandbox.ready(t.runtime);
      log.line(`checks run ${this.sandbox.describe(t.runtime)}`);
    }
    const tools = t.runtime === 'node' ? (['eslint', 'npm test'] as const) : (['pyflakes', 'pytest'] as const);
    const checks: CheckResult[] = [];
    for (const tool of tools) {
      const on = tool === 'eslint' || tool === 'pyflakes' ? lint : test;
      const result = on ? await this.#runTool(tool, t, log, signal) : skipped(tool, `turned off by checks.${tool === 'eslint' || tool === 'pyflakes' ? 'lint' : 'test'}: false`);
      signal.throwIfAborted();
      logResult(result, log);
      checks.push(result);
    }
    return { checks };
  }

  async #runTool(tool: CheckTool, t: CheckTarget, log: CheckLog, signal: AbortSignal): Promise<CheckResult> {
    switch (tool) {
      case 'eslint':
        return this.#eslint(t, log, signal);
      case 'npm test':
        return this.#npmTest(t, log, signal);
      case 'pyflakes':
        return this.#pyflakes(t, log, signal);
      case 'pytest':
        return this.#pytest(t, log, signal);
    }
  }

  async #eslint(t: CheckTarget, log: CheckLog, signal: AbortSignal): Promise<CheckResult> {
    const eslint = this.sandbox.eslint();
    if ('missing' in eslint) return loudlySkipped('eslint', eslint.missing, log);
    const own = await ownEslintConfig(t.codeDir);
    log.line(`$ eslint ${own ? `(the function's own ${own})` : '(no eslint.config.js: the default rules, bugs only)'}`);
    const config = own ? [] : ['--config', eslint.defaultConfig];
    const started = Date.now();
    const run = await this.sandbox.run({ ...base(t, signal), command: ['eslint', ...config, '--format', 'json', '--no-warn-ignored', '--no-error-on-unmatched-pattern', '.'] });
    const problems = run.exitCode === 0 || run.exitCode === 1 ? parseEslintJson(run.stdout, run.root) : null;
    if (problems === null) return broken('eslint', run, started, own ? `ESLint could not lint with ${own}` : 'ESLint could not run');
    return judged('eslint', run, started, problems, problemLines(problems) + run.stderr);
  }

  async #npmTest(t: CheckTarget, log: CheckLog, signal: AbortSignal): Promise<CheckResult> {
    const script = await testScript(t.codeDir);
    if (script === null) return skipped('npm test', 'package.json has no test script');
    log.line('$ npm test');
    const started = Date.now();
    const run = await this.sandbox.run({ ...base(t, signal), command: ['npm', 'test'], env: { CI: 'true', NO_COLOR: '1' }, onOutput: log.chunk });
    return tested('npm test', run, started, parseTap(run.stdout, run.root));
  }

  async #pyflakes(t: CheckTarget, log: CheckLog, signal: AbortSignal): Promise<CheckResult> {
    const targets = (await fsp.readdir(t.codeDir, { withFileTypes: true })).filter((e) => !e.name.startsWith('.') && !NOT_CODE.has(e.name) && (e.isDirectory() || e.name.endsWith('.py'))).map((e) => e.name).sort();
    if (!targets.some((n) => n.endsWith('.py')) && !(await hasFile(t.codeDir, (n) => n.endsWith('.py')))) return skipped('pyflakes', 'no Python files');
    if (!(await this.sandbox.hasPythonModule('pyflakes', t.codeDir, t.buildId, signal))) return loudlySkipped('pyflakes', 'pyflakes is not installed for python3 on this host (apt-get install python3-pyflakes)', log);
    log.line('$ python3 -m pyflakes');
    const started = Date.now();
    const run = await this.sandbox.run({ ...base(t, signal), command: ['python3', '-m', 'pyflakes', ...targets] });
    if (run.exitCode !== 0 && run.exitCode !== 1) return broken('pyflakes', run, started, 'pyflakes could not run');
    const problems = parsePyflakes(run.stdout, run.stderr, run.root);
    return judged('pyflakes', run, started, problems, run.stdout + run.stderr);
  }

  async #pytest(t: CheckTarget, log: CheckLog, signal: AbortSignal): Promise<CheckResult> {
    const hasTests = (await exists(path.join(t.codeDir, 'tests'))) || (await hasFile(t.codeDir, (n) => /^test_.*\.py$|_test\.py$/.test(n)));
    if (!hasTests) return skipped('pytest', 'no tests (test_*.py, *_test.py or tests/)');
    if (!(await this.sandbox.hasPythonModule('pytest', t.codeDir, t.buildId, signal))) return loudlySkipped('pytest', 'pytest is not installed for python3 on this host (apt-get install python3-pytest)', log);
    log.line('$ python3 -m pytest');
    const started = Date.now();
    const command = ['python3', '-m', 'pytest', '-q', '--tb=short', '-rfE', '-p', 'no:cacheprovider', '--color=no'];
    // The installed dependencies first, as the runtime puts them on the path.
    const env = { PYTHONPATH: '{root}/.python_packages:{root}', PYTHONDONTWRITEBYTECODE: '1', CI: 'true' };
    const run = await this.sandbox.run({ ...base(t, signal), command, env, onOutput: log.chunk });
    const result = tested('pytest', run, started, parsePytest(run.stdout, run.root));
    // 5: no test was collected from the files that look like tests — nothing failed.
    return run.exitCode === 5 ? { ...result, status: 'passed', reason: 'pytest collected no tests' } : result;
  }
}

/**
 * The failure a build whose checks failed ends with (the tools and their first problems); null when
 * every check passed or was skipped.
 */
export function failureOf(report: CheckReport, buildId: string): CheckFailure | null {
  const failed = report.checks.filter((c) => c.status === 'failed');
  if (failed.length === 0) return null;
  const parts = failed.map((c) => {
    const errors = c.problems.filter((p) => p.severity === 'error');
    const first = errors.slice(0, PROBLEMS_IN_MESSAGE).map(describeProblem).join('; ');
    const more = errors.length > PROBLEMS_IN_MESSAGE ? ` (and ${errors.length - PROBLEMS_IN_MESSAGE} more)` : '';
    if (c.tool === 'eslint' || c.tool === 'pyflakes') {
      if (errors.length === 0) return `${c.tool}: ${c.reason ?? 'failed'}`;
      return `${c.tool} found ${errors.length} error${errors.length === 1 ? '' : 's'}: ${first}${more}`;
    }
    return `${c.tool} failed (${c.reason ?? `exit code ${c.exitCode}`})${first ? `: ${first}${more}` : ''}`;
  });
  return new CheckFailure(parts.join('; '), buildId, report);
}

const describeProblem = (p: CheckProblem): string => `${p.file}${p.line !== null ? `:${p.line}${p.column !== undefined ? `:${p.column}` : ''}` : ''} ${p.message}${p.rule && p.rule !== p.message ? ` (${p.rule})` : ''}`;

const base = (t: CheckTarget, signal: AbortSignal) => ({ runtime: t.runtime, codeDir: t.codeDir, buildId: t.buildId, signal });

function skipped(tool: CheckTool, reason: string): CheckResult {
  return { tool, status: 'skipped', reason, durationMs: 0, exitCode: null, problems: [], output: '' };
}

/** A check the function asked for that this platform cannot run: said where nobody can miss it. */
function loudlySkipped(tool: CheckTool, reason: string, log: CheckLog): CheckResult {
  log.line(`!!! ${tool} SKIPPED: ${reason}`);
  return skipped(tool, reason);
}

/** A linter's verdict: failed on any error, passed with warnings only. */
function judged(tool: CheckTool, run: ToolRun, started: number, problems: CheckProblem[], output: string): CheckResult {
  if (run.exitCode === null) return broken(tool, run, started, `${tool} was stopped`);
  const errors = problems.filter((p) => p.severity === 'error').length;
  return { tool, status: errors > 0 ? 'failed' : 'passed', durationMs: Date.now() - started, exitCode: run.exitCode, ...capProblems(problems), output: head(output) };
}

/** A test runner's verdict: its exit code; its output (the end, where the summary is) kept. */
function tested(tool: CheckTool, run: ToolRun, started: number, problems: CheckProblem[]): CheckResult {
  const output = tail(run.stdout + (run.stderr ? `\n${run.stderr}` : ''));
  const base = { tool, durationMs: Date.now() - started, exitCode: run.exitCode, ...capProblems(problems), output };
  if (run.timedOut) return { ...base, status: 'failed', reason: 'timed out' };
  if (run.exitCode === null) return { ...base, status: 'failed', reason: 'stopped' };
  return { ...base, status: run.exitCode === 0 ? 'passed' : 'failed' };
}

/** A tool that did not produce a verdict: its config did not load, it crashed, or it ran out of time. */
function broken(tool: CheckTool, run: ToolRun, started: number, what: string): CheckResult {
  const why = run.timedOut ? 'timed out' : run.exitCode === null ? 'stopped' : `exit code ${run.exitCode}`;
  const first = (run.stderr || run.stdout).split('\n').find((l) => l.trim() !== '' && !/^Oops! Something went wrong/.test(l))?.trim();
  return { tool, status: 'failed', reason: `${what} (${why})${first ? `: ${first.slice(0, 300)}` : ''}`, durationMs: Date.now() - started, exitCode: run.exitCode, problems: [], output: head(run.stderr + run.stdout) };
}

function capProblems(problems: CheckProblem[]): { problems: CheckProblem[] } {
  // Errors first, so what is kept is what failed the check.
  const ordered = [...problems.filter((p) => p.severity === 'error'), ...problems.filter((p) => p.severity !== 'error')];
  return { problems: ordered.slice(0, CHECK_PROBLEMS_KEPT) };
}

function logResult(r: CheckResult, log: CheckLog): void {
  if (r.tool === 'eslint' || r.tool === 'pyflakes') for (const p of r.problems) log.line(`  ${p.severity} ${describeProblem(p)}`);
  const errors = r.problems.filter((p) => p.severity === 'error').length;
  const warnings = r.problems.length - errors;
  const counts = r.status === 'skipped' ? '' : ` — ${errors} error${errors === 1 ? '' : 's'}, ${warnings} warning${warnings === 1 ? '' : 's'}, ${(r.durationMs / 1000).toFixed(1)} s`;
  log.line(`${r.tool}: ${r.status}${r.reason ? ` (${r.reason})` : ''}${counts}`);
}

const problemLines = (problems: CheckProblem[]) => problems.map((p) => `${p.severity} ${describeProblem(p)}\n`).join('');

function head(s: string): string {
  const b = Buffer.from(s);
  return b.length <= CHECK_OUTPUT_KEPT ? s : `${b.subarray(0, CHECK_OUTPUT_KEPT).toString('utf8')}\n… ${b.length - CHECK_OUTPUT_KEPT} more bytes in the build log`;
}

function tail(s: string): string {
  const b = Buffer.from(s);
  return b.length <= CHECK_OUTPUT_KEPT ? s : `… ${b.length - CHECK_OUTPUT_KEPT} bytes before this are in the build log\n${b.subarray(b.length - CHECK_OUTPUT_KEPT).toString('utf8')}`;
}

const exists = (p: string) => fsp.access(p).then(() => true, () => false);

async function packageJson(codeDir: string): Promise<{ scripts?: Record<string, unknown>; devDependencies?: unknown } | null> {
  try {
    return JSON.parse(await fsp.readFile(path.join(codeDir, 'package.json'), 'utf8')) as { scripts?: Record<string, unknown> };
  } catch {
    return null;
  }
}

async function testScript(codeDir: string): Promise<string | null> {
  const script = (await packageJson(codeDir))?.scripts?.test;
  return typeof script === 'string' && script.trim() !== '' && !NPM_PLACEHOLDER_TEST.test(script) ? script : null;
}

async function ownEslintConfig(codeDir: string): Promise<string | undefined> {
  for (const f of OWN_ESLINT_CONFIGS) if (await exists(path.join(codeDir, f))) return f;
  return undefined;
}

/** Whether any file below `dir` (outside dependencies and hidden dirs) has a name `match` accepts. */
async function hasFile(dir: string, match: (name: string) => boolean): Promise<boolean> {
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    if (e.isFile() && match(e.name)) return true;
    if (e.isDirectory() && !e.name.startsWith('.') && !NOT_CODE.has(e.name) && (await hasFile(path.join(dir, e.name), match))) return true;
  }
  return false;
}
