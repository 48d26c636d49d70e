// What the check tools say, turned into problems with file and line (core/check-report.ts). Every
// parser is lenient: output it does not recognise yields no problem rather than an exception, since the
// tools run the function's own code and config and may print anything. Paths come back relative to
// the function's root, whatever directory the tool saw it in (/code in the checks container, a
// sandbox on the host).

import path from 'node:path';
import type { CheckProblem } from '../core/check-report.js';

const relative = (root: string, file: string): string => {
  const rel = path.isAbsolute(file) ? path.relative(root, file) : path.normalize(file);
  return rel.startsWith('./') ? rel.slice(2) : rel;
};

interface EslintMessage {
  ruleId?: string | null;
  severity?: number;
  message?: string;
  line?: number;
  column?: number;
  fatal?: boolean;
}

/**
 * ESLint's JSON formatter: an array of { filePath, messages }. Severity 2 is an error, 1 a warning. A
 * fatal message (the file does not parse) is kept as a warning: the load check fails such a file with
 * the runtime's own words, and a lint stage of its own must not change what that failure says.
 * Returns null when the output is not ESLint's JSON (the config failed to load, the tool crashed).
 */
export function parseEslintJson(stdout: string, root: string): CheckProblem[] | null {
  let files: unknown;
  try {
    files = JSON.parse(stdout);
  } catch {
    return null;
  }
  if (!Array.isArray(files)) return null;
  const problems: CheckProblem[] = [];
  for (const f of files as { filePath?: unknown; messages?: unknown }[]) {
    if (typeof f?.filePath !== 'string' || !Array.isArray(f.messages)) continue;
    for (const m of f.messages as EslintMessage[]) {
      const fatal = m.fatal === true;
      problems.push({
        file: relative(root, f.filePath),
        line: typeof m.line === 'number' ? m.line : null,
        ...(typeof m.column === 'number' ? { column: m.column } : {}),
        ...(m.ruleId ? { rule: m.ruleId } : fatal ? { rule: 'parse' } : {}),
        severity: m.severity === 2 && !fatal ? 'error' : 'warning',
        message: fatal ? `${m.message ?? 'does not parse'} (not linted; the load check reports it if the handler loads this file)` : String(m.message ?? ''),
      });
    }
  }
  return problems;
}

/**
 * pyflakes' messages that correct code also produces now and then: reported, never fatal. Every other
 * message (undefined name, duplicate argument, a key repeated with different values, 'return' outside
 * a function, a format string that cannot work …) is a bug and an error.
 */
const PYFLAKES_KINDS: [RegExp, string, CheckProblem['severity']][] = [
  [/^undefined name .* in __all__$/, 'undefined-export', 'error'],
  [/^undefined name /, 'undefined-name', 'error'],
  [/referenced before assignment$/, 'undefined-local', 'error'],
  [/ imported but unused/, 'unused-import', 'warning'],
  [/ is assigned to but never used$/, 'unused-variable', 'warning'],
  [/ is annotated but never used$/, 'unused-annotation', 'warning'],
  [/^redefinition of unused /, 'redefined-while-unused', 'warning'],
  [/ shadowed by loop variable$/, 'import-shadowed-by-loop-var', 'warning'],
  [/ import \*' used; unable to detect undefined names$/, 'import-star-used', 'warning'],
  [/ may be undefined, or defined from star imports/, 'import-star-usage', 'warning'],
  [/^[ft]-string is missing placeholders$/, 'string-missing-placeholders', 'warning'],
  [/^use ==\/!= to compare constant literals/, 'is-literal', 'warning'],
  [/ has unused (named )?arguments?/, 'format-unused-arguments', 'warning'],
  [/^duplicate argument /, 'duplicate-argument', 'error'],
  [/repeated with different values$/, 'repeated-key', 'error'],
];

const FLAKE_LINE = /^(.+?):(\d+):(?:(\d+):)? (.+)$/;

/**
 * pyflakes prints its findings on stdout as `file:line:col: message`, and a file it cannot parse on
 * stderr (the same form, then the source line and a caret). A syntax error is a warning here for the
 * reason ESLint's fatal messages are (the load check names it); a flake is an error or a warning by
 * its kind (PYFLAKES_KINDS).
 */
export function parsePyflakes(stdout: string, stderr: string, root: string): CheckProblem[] {
  const problems: CheckProblem[] = [];
  for (const line of stdout.split('\n')) {
    const m = FLAKE_LINE.exec(line.trimEnd());
    if (!m) continue;
    const message = m[4]!;
    const kind = PYFLAKES_KINDS.find(([re]) => re.test(message));
    problems.push({ file: relative(root, m[1]!), line: Number(m[2]), ...(m[3] ? { column: Number(m[3]) } : {}), rule: kind?.[1] ?? 'pyflakes', severity: kind?.[2] ?? 'error', message });
  }
  for (const line of stderr.split('\n')) {
    const m = FLAKE_LINE.exec(line.trimEnd());
    if (!m || m[4]!.trim() === '^') continue;
    problems.push({ file: relative(root, m[1]!), line: Number(m[2]), ...(m[3] ? { column: Number(m[3]) } : {}), rule: 'syntax', severity: 'warning', message: `${m[4]} (not checked; the load check reports it if the handler loads this file)` });
  }
  return problems;
}

/**
 * Node's test runner in TAP (its reporter when stdout is not a terminal, as in a build): each
 * `not ok N - name` with the `location:` and `error:` of its YAML block. A suite that failed only
 * because a test in it did (failureType subtestsFailed) is not counted again.
 */
export function parseTap(output: string, root: string): CheckProblem[] {
  const lines = output.split('\n');
  const problems: CheckProblem[] = [];
  for (let i = 0; i < lines.length; i++) {
    const head = /^\s*not ok \d+ - (.*?)(\s+#\s*(SKIP|TODO)\b.*)?$/i.exec(lines[i]!);
    if (!head || head[2]) continue;
    const block: string[] = [];
    let j = i + 1;
    if (lines[j]?.trim() === '---') {
      for (j++; j < lines.length && lines[j]!.trim() !== '...'; j++) block.push(lines[j]!);
    }
    const yaml = block.join('\n');
    if (/failureType:\s*'subtestsFailed'/.test(yaml)) continue;
    const loc = /location:\s*'(.+):(\d+):(\d+)'/.exec(yaml);
    problems.push({
      file: loc ? relative(root, loc[1]!) : 'package.json',
      line: loc ? Number(loc[2]) : null,
      ...(loc ? { column: Number(loc[3]) } : {}),
      rule: head[1]!,
      severity: 'error',
      message: tapError(block) ?? `test "${head[1]}" failed`,
    });
  }
  return problems;
}

/** The `error:` of a TAP YAML block: inline ('…') or a block scalar (|-) of more-indented lines. */
function tapError(block: string[]): string | null {
  const at = block.findIndex((l) => /^\s*error:/.test(l));
  if (at < 0) return null;
  const inline = /^\s*error:[ \t]+(?![|>])(\S.*)$/.exec(block[at]!);
  if (inline) return inline[1]!.replace(/^'(.*)'$/, '$1').trim() || null;
  const indent = /^(\s*)/.exec(block[at]!)![1]!.length;
  const body: string[] = [];
  for (const l of block.slice(at + 1)) {
    if (l.trim() !== '' && /^(\s*)/.exec(l)![1]!.length <= indent) break;
    body.push(l.trim());
  }
  return body.filter((l) => l !== '').join(' ').slice(0, 500) || null;
}

/**
 * pytest's short test summary (-rfE): `FAILED file::test - message`, `ERROR file - message`; the line
 * is the test's own frame in the --tb=short traceback (`file:12: in test_name`), when there is one.
 */
export function parsePytest(output: string, root: string): CheckProblem[] {
  const problems: CheckProblem[] = [];
  for (const raw of output.split('\n')) {
    const m = /^(FAILED|ERROR) (\S+?)(?:::(\S+))?(?: - (.*))?$/.exec(raw.trimEnd());
    if (!m) continue;
    const file = m[2]!;
    const test = m[3];
    const fn = test?.split('::').pop()?.replace(/\[.*\]$/, '');
    const frame = fn ? new RegExp(`^${escapeRegExp(file)}:(\\d+): in ${escapeRegExp(fn)}$`, 'm').exec(output) : null;
    problems.push({
      file: relative(root, file),
      line: frame ? Number(frame[1]) : null,
      ...(test ? { rule: test } : {}),
      severity: 'error',
      message: m[4] ?? (m[1] === 'ERROR' ? `error collecting or setting up ${test ?? file}` : `${test ?? file} failed`),
    });
  }
  return problems;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
