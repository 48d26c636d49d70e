// The report of a build's check stage (lint and tests before the image), kept with the build in the
// Store and served at GET /v1/builds/:id/report. Written by builder/checks.ts.

export type CheckTool = 'eslint' | 'npm test' | 'pyflakes' | 'pytest';
export type CheckStatus = 'passed' | 'failed' | 'skipped';

/** One thing a tool found, where it found it (file relative to the function's root). */
export interface CheckProblem {
  file: string;
  /** 1-based; null when the tool named no line (a test runner's failure without a location). */
  line: number | null;
  column?: number;
  /** The lint rule (ESLint's ruleId, pyflakes' message kind) or the failing test's name. */
  rule?: string;
  /** Errors fail the check; warnings are reported only. */
  severity: 'error' | 'warning';
  message: string;
}

export interface CheckResult {
  tool: CheckTool;
  status: CheckStatus;
  /** Why it was skipped, or what ended it besides its findings (timed out, could not run). */
  reason?: string;
  durationMs: number;
  /** The tool's exit code; null when it did not run (skipped) or was killed. */
  exitCode?: number | null;
  problems: CheckProblem[];
  /** What the tool wrote, capped (CHECK_OUTPUT_KEPT bytes of the end for test runners, of the start for linters). */
  output: string;
}

export interface CheckReport {
  checks: CheckResult[];
}

/** Bytes of one tool's output kept in the report; the build log keeps more. */
export const CHECK_OUTPUT_KEPT = 16 * 1024;
/** Problems kept per tool in the report (the count past it is noted in the output). */
export const CHECK_PROBLEMS_KEPT = 200;
