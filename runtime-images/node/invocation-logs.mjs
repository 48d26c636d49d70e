// Attributes log lines to invocations. Inside an invocation every console call (and context.logger)
// writes ONE JSON line {"rid","level","msg"} so the platform can collect lines per request id even when
// many invocations run at once; outside an invocation console output is left untouched.

import { AsyncLocalStorage } from 'node:async_hooks';
import { format } from 'node:util';

export const invocationStore = new AsyncLocalStorage();

function writeLine(rid, level, msg) {
  const line = JSON.stringify({ rid, level, msg }) + '\n';
  if (level === 'warn' || level === 'error') process.stderr.write(line);
  else process.stdout.write(line);
}

/** A logger bound to one request id: context.logger. */
export function createLogger(rid) {
  return {
    debug: (...args) => writeLine(rid, 'debug', format(...args)),
    info: (...args) => writeLine(rid, 'info', format(...args)),
    warn: (...args) => writeLine(rid, 'warn', format(...args)),
    error: (...args) => writeLine(rid, 'error', format(...args)),
  };
}

export function logInvocation(rid, level, msg) {
  writeLine(rid, level, msg);
}

const CONSOLE_LEVELS = { log: 'info', info: 'info', debug: 'debug', trace: 'debug', warn: 'warn', error: 'error' };

/** Patches console once; cheap outside invocations (one AsyncLocalStorage lookup per call). */
export function installConsoleCapture() {
  for (const [method, level] of Object.entries(CONSOLE_LEVELS)) {
    const original = console[method].bind(console);
    console[method] = (...args) => {
      const rid = invocationStore.getStore();
      if (rid === undefined) original(...args);
      else writeLine(rid, level, format(...args));
    };
  }
}
