/**
 * Structured logs on stderr through pino, one line per state change: JSON lines when stderr
 * is not a terminal (for log shippers), `time LEVEL msg key=value` on a terminal. Fields
 * carry the agent, device, batch and job ids. The token is never handed to a logger, and
 * fields named token or authorization are redacted anyway.
 */
import { type DestinationStream, type Logger as PinoLogger, pino, stdTimeFunctions } from 'pino';

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

const REDACT = ['token', 'authorization', '*.token', '*.authorization', 'headers.authorization'];

export function createLogger(options: LoggerOptions = {}): Logger {
  const stream = options.stream ?? process.stderr;
  const json = options.json ?? !stream.isTTY;
  const destination: DestinationStream = json ? { write: (line) => void stream.write(line) } : plain(stream);
  const root = pino(
    {
      level: options.level ?? 'info',
      base: undefined,
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: '[redacted]' },
    },
    destination,
  );
  const wrap = (p: PinoLogger): Logger => ({
    debug: (msg, fields) => p.debug(clean(fields), msg),
    info: (msg, fields) => p.info(clean(fields), msg),
    warn: (msg, fields) => p.warn(clean(fields), msg),
    error: (msg, fields) => p.error(clean(fields), msg),
    child: (fields) => wrap(p.child(clean(fields))),
  });
  return wrap(root);
}

export const silentLogger: Logger = createLogger({ level: 'silent' });

/** Errors become their message; undefined fields are left out. */
function clean(fields: LogFields | undefined): LogFields {
  const out: LogFields = {};
  for (const [k, v] of Object.entries(fields ?? {})) {
    if (v !== undefined) out[k] = v instanceof Error ? v.message : v;
  }
  return out;
}

/** pino's JSON lines turned into `12:00:03.120 INFO  msg key=value` for a person at a terminal. */
function plain(stream: NodeJS.WritableStream): DestinationStream {
  return {
    write(line: string) {
      const { time, level, msg, ...fields } = JSON.parse(line) as LogFields;
      let out = `${String(time).slice(11, 23)} ${String(level).toUpperCase().padEnd(5)} ${String(msg)}`;
      for (const [k, v] of Object.entries(fields)) {
        const text = typeof v === 'string' ? v : JSON.stringify(v);
        out += ` ${k}=${/^[^\s"=]+$/.test(text) ? text : JSON.stringify(text)}`;
      }
      stream.write(`${out}\n`);
    },
  };
}
