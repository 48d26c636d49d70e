// One structured logger: JSON lines on stderr in production, readable lines in a terminal.
// Components take a Logger by injection (child loggers carry their component name).

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  child(bindings: Record<string, unknown>): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  json?: boolean;
  write?: (line: string) => void;
}

export function createLogger(opts: LoggerOptions = {}, bindings: Record<string, unknown> = {}): Logger {
  const min = ORDER[opts.level ?? 'info'];
  const write = opts.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const json = opts.json ?? false;
  const emit = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < min) return;
    const all = { ...bindings, ...fields };
    for (const [k, v] of Object.entries(all)) if (v instanceof Error) all[k] = { message: v.message, stack: v.stack };
    if (json) {
      write(JSON.stringify({ time: new Date().toISOString(), level, msg, ...all }));
    } else {
      const extra = Object.keys(all).length ? ' ' + JSON.stringify(all) : '';
      write(`${new Date().toISOString()} ${level.toUpperCase().padEnd(5)} ${msg}${extra}`);
    }
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (b) => createLogger(opts, { ...bindings, ...b }),
  };
}

/** A logger that drops everything: for unit tests. */
export const silentLogger: Logger = createLogger({ write: () => {} });
