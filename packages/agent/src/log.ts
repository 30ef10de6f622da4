/**
 * Structured logs on stderr, one line per state change: JSON lines when stderr is not a
 * terminal (for log shippers), `time LEVEL msg key=value` on a terminal. Fields carry the
 * agent, device, batch and job ids. The token is never handed to a logger.
 */

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  /** Default: JSON unless the stream is a terminal. */
  json?: boolean;
  stream?: NodeJS.WritableStream & { isTTY?: boolean };
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export function createLogger(options: LoggerOptions = {}): Logger {
  const stream = options.stream ?? process.stderr;
  const min = RANK[options.level ?? 'info'];
  const json = options.json ?? !stream.isTTY;
  const make = (base: LogFields): Logger => {
    const write = (level: Exclude<LogLevel, 'silent'>, msg: string, fields?: LogFields) => {
      if (RANK[level] < min) return;
      const all = { ...base, ...fields };
      stream.write(json ? jsonLine(level, msg, all) : plainLine(level, msg, all));
    };
    return {
      debug: (msg, fields) => write('debug', msg, fields),
      info: (msg, fields) => write('info', msg, fields),
      warn: (msg, fields) => write('warn', msg, fields),
      error: (msg, fields) => write('error', msg, fields),
      child: (fields) => make({ ...base, ...fields }),
    };
  };
  return make({});
}

export const silentLogger: Logger = createLogger({ level: 'silent' });

function value(v: unknown): unknown {
  if (v instanceof Error) return v.message;
  return v;
}

function jsonLine(level: string, msg: string, fields: LogFields): string {
  const out: LogFields = { time: new Date().toISOString(), level, msg };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = value(v);
  return `${JSON.stringify(out)}\n`;
}

function plainLine(level: string, msg: string, fields: LogFields): string {
  let line = `${new Date().toISOString().slice(11, 23)} ${level.toUpperCase().padEnd(5)} ${msg}`;
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    const text = String(value(v));
    line += ` ${k}=${/^[^\s"=]+$/.test(text) ? text : JSON.stringify(text)}`;
  }
  return `${line}\n`;
}
