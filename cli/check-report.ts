// A build that failed its checks (ESLint, pyflakes, npm test, pytest) has a report with tool, file, line
// and message (GET /v1/builds/:id/report): shown under the failure, so the fix needs no other command.

import { ApiError, type ApiClient } from './client.js';
import { safeLine } from './terminal-text.js';
import type { Ui } from './ui.js';

interface Problem {
  file: string;
  line: number | null;
  column?: number;
  rule?: string;
  severity: string;
  message: string;
}

interface CheckView {
  tool: string;
  status: string;
  reason?: string;
  problems: Problem[];
}

/** Problems shown at most; the report (--json, or the API) has them all. */
const SHOWN = 20;

/** The problems of a failed check as lines ("eslint  index.js:3:7  no-undef  'x' is not defined"); [] when there is no report. */
export async function checkProblemLines(client: ApiClient, buildId: string): Promise<string[]> {
  let report: { checks: CheckView[] };
  try {
    report = await client.call<{ checks: CheckView[] }>('GET', `/v1/builds/${encodeURIComponent(buildId)}/report`);
  } catch (err) {
    if (err instanceof ApiError && err.problem.status === 404) return []; // a Stratus without checks
    throw err;
  }
  const lines: string[] = [];
  for (const check of report.checks.filter((c) => c.status === 'failed')) {
    if (check.problems.length === 0) lines.push(`${check.tool}  failed${check.reason ? `: ${check.reason}` : ''}`);
    for (const p of check.problems) {
      const where = `${p.file}${p.line !== null ? `:${p.line}${p.column !== undefined ? `:${p.column}` : ''}` : ''}`;
      lines.push(`${check.tool}  ${where}  ${p.severity === 'warning' ? 'warning ' : ''}${p.rule ? `${p.rule}  ` : ''}${p.message}`);
    }
  }
  return lines;
}

export function printCheckProblems(ui: Ui, lines: string[]): void {
  // Tool, file and message come from the uploaded code and its tests: shown safe.
  for (const l of lines.slice(0, SHOWN)) ui.warn(`  ${safeLine(l)}`);
  if (lines.length > SHOWN) ui.warn(ui.dim(`  … ${lines.length - SHOWN} more in the report`));
}
