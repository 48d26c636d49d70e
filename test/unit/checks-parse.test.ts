// The parsers of the check tools' output (builder/checks-parse.ts), on output the tools really print:
// captured from the checks images (ESLint 10, pyflakes 3.2, pytest 8, Node 20's test runner in TAP).

import { describe, expect, it } from 'vitest';
import { parseEslintJson, parsePyflakes, parsePytest, parseTap } from '../../builder/checks-parse.js';

describe('parseEslintJson', () => {
  const output = JSON.stringify([
    {
      filePath: '/code/index.js',
      messages: [
        { ruleId: 'no-unused-vars', severity: 1, message: "'unused' is assigned a value but never used.", line: 2, column: 9 },
        { ruleId: 'no-undef', severity: 2, message: "'countr' is not defined.", line: 3, column: 15 },
      ],
      errorCount: 1, warningCount: 1, source: 'export default …',
    },
    { filePath: '/code/lib/broken.js', messages: [{ ruleId: null, fatal: true, severity: 2, message: 'Parsing error: Unexpected token ;', line: 2, column: 11 }] },
    { filePath: '/code/clean.js', messages: [] },
  ]);

  it('gives file (relative to the root), line, column, rule, severity and message', () => {
    expect(parseEslintJson(output, '/code')).toEqual([
      { file: 'index.js', line: 2, column: 9, rule: 'no-unused-vars', severity: 'warning', message: "'unused' is assigned a value but never used." },
      { file: 'index.js', line: 3, column: 15, rule: 'no-undef', severity: 'error', message: "'countr' is not defined." },
      expect.objectContaining({ file: 'lib/broken.js', line: 2, rule: 'parse', severity: 'warning' }),
    ]);
  });

  it('leaves a file that does not parse to the load check: a warning, never an error', () => {
    const [, , fatal] = parseEslintJson(output, '/code')!;
    expect(fatal!.message).toMatch(/^Parsing error: Unexpected token ; \(not linted; the load check/);
  });

  it('is null when the output is not the JSON formatter’s (a config that failed to load)', () => {
    expect(parseEslintJson('Oops! Something went wrong! :(\n\nESLint: 10.15.0\n', '/code')).toBeNull();
    expect(parseEslintJson('{"not":"an array"}', '/code')).toBeNull();
    expect(parseEslintJson('[]', '/code')).toEqual([]);
  });
});

describe('parsePyflakes', () => {
  const stdout = [
    "main.py:1:1: 'os' imported but unused",
    "main.py:5:5: local variable 'x' is assigned to but never used",
    "main.py:6:50: dictionary key 'k' repeated with different values",
    "main.py:6:18: undefined name 'undefined_thing'",
    'main.py:6:40: f-string is missing placeholders',
    "lib/util.py:3: undefined name 'y'",
    '',
  ].join('\n');
  const stderr = 'broken.py:1:7: invalid syntax\ndef f(:\n      ^\n';

  it('classifies each message: bugs are errors, what correct code also does is a warning', () => {
    const problems = parsePyflakes(stdout, '', '/code');
    expect(problems.map((p) => [p.file, p.line, p.column, p.rule, p.severity])).toEqual([
      ['main.py', 1, 1, 'unused-import', 'warning'],
      ['main.py', 5, 5, 'unused-variable', 'warning'],
      ['main.py', 6, 50, 'repeated-key', 'error'],
      ['main.py', 6, 18, 'undefined-name', 'error'],
      ['main.py', 6, 40, 'string-missing-placeholders', 'warning'],
      ['lib/util.py', 3, undefined, 'undefined-name', 'error'],
    ]);
    expect(problems[3]!.message).toBe("undefined name 'undefined_thing'");
  });

  it('reads a syntax error from stderr (not the source line or the caret), as a warning left to the load check', () => {
    expect(parsePyflakes('', stderr, '/code')).toEqual([
      { file: 'broken.py', line: 1, column: 7, rule: 'syntax', severity: 'warning', message: 'invalid syntax (not checked; the load check reports it if the handler loads this file)' },
    ]);
  });

  it('makes absolute paths relative to the root', () => {
    expect(parsePyflakes("/tmp/sb/code-1/main.py:2:1: undefined name 'z'\n", '', '/tmp/sb/code-1')[0]!.file).toBe('main.py');
  });
});

describe('parseTap (node --test)', () => {
  const tap = [
    "",
    "> test",
    "> node --test",
    "",
    "TAP version 13",
    "# Subtest: adds",
    "not ok 1 - adds",
    "  ---",
    "  duration_ms: 7.83044",
    "  location: '/code/index.test.js:3:1'",
    "  failureType: 'testCodeFailure'",
    "  error: |-",
    "    Expected values to be strictly equal:",
    "    ",
    "    2 !== 3",
    "    ",
    "  code: 'ERR_ASSERTION'",
    "  name: 'AssertionError'",
    "  expected: 3",
    "  actual: 2",
    "  operator: 'strictEqual'",
    "  ...",
    "# Subtest: passes",
    "ok 2 - passes",
    "  ---",
    "  duration_ms: 0.555711",
    "  ...",
    "# Subtest: suite",
    "    # Subtest: inner",
    "    not ok 1 - inner",
    "      ---",
    "      duration_ms: 0.532287",
    "      location: '/code/index.test.js:5:27'",
    "      failureType: 'testCodeFailure'",
    "      error: |-",
    "        boom",
    "        second line",
    "      code: 'ERR_TEST_FAILURE'",
    "      ...",
    "    1..1",
    "not ok 3 - suite",
    "  ---",
    "  duration_ms: 1.565763",
    "  type: 'suite'",
    "  location: '/code/index.test.js:5:1'",
    "  failureType: 'subtestsFailed'",
    "  error: '1 subtest failed'",
    "  code: 'ERR_TEST_FAILURE'",
    "  ...",
    "# Subtest: skipped",
    "ok 4 - skipped # SKIP",
    "  ---",
    "  duration_ms: 0.364463",
    "  ...",
    "1..4",
    "# tests 4",
    "# suites 1",
    "# pass 1",
    "# fail 2",
    "# cancelled 0",
    "# skipped 1",
    "# todo 0",
    "# duration_ms 361.131331",
    ""
  ].join('\n');

  it('gives each failed test with its location and error, not the suite that failed because of it nor a skipped test', () => {
    expect(parseTap(tap, '/code')).toEqual([
      { file: 'index.test.js', line: 3, column: 1, rule: 'adds', severity: 'error', message: 'Expected values to be strictly equal: 2 !== 3' },
      { file: 'index.test.js', line: 5, column: 27, rule: 'inner', severity: 'error', message: 'boom second line' },
    ]);
  });

  it('finds nothing in output that is not TAP', () => {
    expect(parseTap('> test\n> jest\n\nFAIL ./sum.test.js\n  ● adds\n', '/code')).toEqual([]);
  });

  it('takes an inline error', () => {
    expect(parseTap("not ok 1 - x\n  ---\n  location: '/code/a.test.js:9:3'\n  error: 'went wrong'\n  ...\n", '/code')).toEqual([
      { file: 'a.test.js', line: 9, column: 3, rule: 'x', severity: 'error', message: 'went wrong' },
    ]);
  });
});

describe('parsePytest', () => {
  const output = [
    'FF                                                                       [100%]',
    '=================================== FAILURES ===================================',
    '__________________________________ test_adds ___________________________________',
    'test_main.py:7: in test_adds',
    '    assert add(1, 1) == 3',
    'E   assert 2 == 3',
    'E    +  where 2 = add(1, 1)',
    '_______________________________ TestX.test_param _______________________________',
    'tests/test_x.py:11: in test_param',
    '    assert handler is None',
    'E   assert handler is None',
    '=========================== short test summary info ============================',
    'FAILED test_main.py::test_adds - assert 2 == 3',
    'FAILED tests/test_x.py::TestX::test_param[1-2] - assert handler is None',
    "ERROR tests/test_broken.py - ModuleNotFoundError: No module named 'nope'",
    '2 failed, 1 error in 0.04s',
  ].join('\n');

  it('gives each failed test with the line of its own frame, and each collection error', () => {
    expect(parsePytest(output, '/code')).toEqual([
      { file: 'test_main.py', line: 7, rule: 'test_adds', severity: 'error', message: 'assert 2 == 3' },
      { file: 'tests/test_x.py', line: 11, rule: 'TestX::test_param[1-2]', severity: 'error', message: 'assert handler is None' },
      { file: 'tests/test_broken.py', line: null, severity: 'error', message: "ModuleNotFoundError: No module named 'nope'" },
    ]);
  });
});
