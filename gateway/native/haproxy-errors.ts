// HAProxy's own answers (a timeout, a broken or invalid answer, no server, a request it could not parse) as
// the Node path answers them: application/problem+json with toProblem's shape (type, title, status, code,
// detail) and the call's id in x-stratus-request-id. Each one is an `http-error` rule whose body is a
// log-format string, so HAProxy fills in what only it knows when it answers (the request id, the function,
// its timeout). The JSON is built here from ERROR_CATALOGUE and problemType, never written by hand, so a
// title or a docs anchor cannot drift from the Node path's.
//
// Three layers of syntax wrap each body, escaped in this order: JSON (JSON.stringify), HAProxy's log-format
// (a literal % is %%), then the config file's double quotes (\, " and $ are escaped: HAProxy expands $VAR
// inside double quotes). A value HAProxy fills in is a Sample: a sample expression put in as %[expr], passed
// through HAProxy's json converter when it lands inside a JSON string.

import { ERROR_CATALOGUE, problemType, type ErrorCode } from '../../core/errors.js';
import { REQUEST_ID_HEADER } from '../../core/invocation-contract.js';

/** A value HAProxy fills in when it answers: a sample expression in its own syntax, e.g. `unique-id`. */
export class Sample {
  /** `number`: put in bare (an integer); otherwise a JSON string's content, escaped by HAProxy's json converter. */
  constructor(readonly expr: string, readonly as: 'string' | 'number' = 'string') {
    if (!/^[a-z0-9_.(),-]+$/i.test(expr)) throw new Error(`sample "${expr}" has characters a log-format expression cannot carry here`);
  }
}

/** Text with holes HAProxy fills in. */
export type Template = ReadonlyArray<string | Sample>;

/** The HTTP statuses HAProxy 2.6 answers itself and lets `http-error` replace (it has no 431: too large is 400). */
export type HaproxyErrorStatus = 400 | 408 | 413 | 502 | 503 | 504;

export interface HaproxyProblem {
  code: ErrorCode;
  detail: Template;
  /** Extra members, as toProblem spreads a StratusError's details (function, timeoutMs, logs). */
  extra?: Record<string, Template | Sample>;
}

// Private-use characters: JSON.stringify leaves them as they are and no catalogue text has them.
const HOLE = (i: number): string => `\uE000${i}\uE001`;
const HOLES = /"\uE000(\d+)\uE001"|\uE000(\d+)\uE001/g;

/** A string for HAProxy's config inside double quotes (its weak quoting: backslash escapes, $ expands). */
export function configQuoted(text: string): string {
  if (/[\r\n\0]/.test(text)) throw new Error('a config argument cannot hold a line break or NUL');
  return `"${text.replace(/[\\"$]/g, '\\$&')}"`;
}

/** The problem document as a log-format string (not yet quoted for the config). */
export function problemLogFormat(p: HaproxyProblem): string {
  const { status, title } = ERROR_CATALOGUE[p.code];
  const samples: Sample[] = [];
  const hole = (s: Sample): string => HOLE(samples.push(s) - 1);
  const text = (t: Template): string => t.map((part) => (typeof part === 'string' ? part : hole(part))).join('');
  const extra = Object.fromEntries(Object.entries(p.extra ?? {}).map(([k, v]) => [k, v instanceof Sample ? hole(v) : text(v)]));
  const json = JSON.stringify({ type: problemType(p.code), title, status, code: p.code, detail: text(p.detail), ...extra });
  // A hole that is a whole JSON string and a number drops its quotes; one inside a string is escaped by HAProxy.
  return json.replaceAll('%', '%%').replace(HOLES, (whole: string, alone: string | undefined, inside: string | undefined) => {
    const s = samples[Number(alone ?? inside)]!;
    if (alone !== undefined && s.as === 'number') return `%[${s.expr}]`;
    const filled = `%[${s.expr},json(utf8s)]`;
    return alone !== undefined ? `"${filled}"` : filled;
  });
}

/** One `http-error` line: HAProxy answers `status` with this problem document and the call's id. */
export function httpErrorRule(status: HaproxyErrorStatus, p: HaproxyProblem): string {
  const expected = ERROR_CATALOGUE[p.code].status;
  if (expected !== status) throw new Error(`${p.code} is a ${expected}, not a ${status}`);
  return `http-error status ${status} content-type application/problem+json lf-string ${configQuoted(problemLogFormat(p))} hdr ${REQUEST_ID_HEADER} ${configQuoted('%[unique-id]')}`;
}

const ID = new Sample('unique-id');
const FN = new Sample('var(txn.fn)');
const TIMEOUT = new Sample('var(txn.timeout_ms)', 'number');
const LOGS: Template = ['/v1/functions/', FN, '/logs?requestId=', ID];

const BAD_RESPONSE: HaproxyProblem = {
  code: 'FUNCTION_BAD_RESPONSE',
  detail: ['function ', FN, ' sent an invalid HTTP response or broke off the call before a complete answer; its instance is replaced. Return results through the runtime; see GET ', ...LOGS],
  extra: { function: FN, logs: LOGS },
};

/**
 * HAProxy's answers for a call of a function routed to a slot, with the function's name and its logs' URL as
 * the Node path gives them (scheduler/upstream/streamed-call.ts). One 502: HAProxy gives an instance that broke
 * the connection and one that sent an invalid answer the same status, and http-error tells only statuses apart
 * (the per-call line's termination state does, so the record says which: SH-- FUNCTION_CRASHED, PH--
 * FUNCTION_BAD_RESPONSE). The caller gets FUNCTION_BAD_RESPONSE, as the Node path answers an unreadable answer,
 * with a detail that names both.
 */
export function slotErrorRules(): string[] {
  return [
    httpErrorRule(504, {
      code: 'FUNCTION_TIMEOUT',
      detail: ['function ', FN, ' did not answer within its timeout of ', TIMEOUT, ' ms; make it faster or raise timeoutMs, and see GET ', ...LOGS],
      extra: { function: FN, timeoutMs: TIMEOUT, logs: LOGS },
    }),
    httpErrorRule(502, BAD_RESPONSE),
    httpErrorRule(503, {
      code: 'FUNCTION_UNAVAILABLE',
      detail: ['function ', FN, ' has no instance that could take the call; call it again'],
      extra: { function: FN },
    }),
  ];
}

/**
 * What HAProxy 2.6 passes on and Node's HTTP parser refuses (the Node path answers them 502): a status outside
 * 100-599 (000, 600) and a control character in a response header's value. Refused here the same way.
 */
export function slotResponseChecks(): string[] {
  const deny = `http-response deny deny_status 502 content-type application/problem+json lf-string ${configQuoted(problemLogFormat(BAD_RESPONSE))} hdr ${REQUEST_ID_HEADER} ${configQuoted('%[unique-id]')}`;
  return [
    `${deny} if { status lt 100 } || { status gt 599 }`,
    // res.hdrs is the header block with its CRLFs: any other control character (tab aside) is refused.
    `${deny} if { res.hdrs -m reg ${configQuoted('[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]')} }`,
  ];
}

/**
 * HAProxy's answers anywhere else: a request it could not read (before any function is known) and the
 * activator's backend (Stratus unreachable, or broken off while it answered).
 */
export function defaultErrorRules(): string[] {
  return [
    httpErrorRule(400, { code: 'INVALID_REQUEST', detail: ['the request is malformed or its line and headers are too large; check the URL, the headers and the body\'s framing'] }),
    httpErrorRule(408, { code: 'REQUEST_TIMEOUT', detail: ['the request did not arrive completely in time; send it again on a new connection'] }),
    httpErrorRule(413, { code: 'PAYLOAD_TOO_LARGE', detail: ['the request body is larger than accepted'] }),
    httpErrorRule(502, { code: 'FUNCTION_CRASHED', detail: ['the call broke off before a complete answer; quote request id ', ID, ' when reporting it'] }),
    httpErrorRule(503, { code: 'FUNCTION_UNAVAILABLE', detail: ['no instance and no activator could take the call; call it again'] }),
    httpErrorRule(504, { code: 'FUNCTION_TIMEOUT', detail: ['the call was not answered within the longest call time; quote request id ', ID, ' when reporting it'] }),
  ];
}
