/**
 * Terminal output: colour only on a TTY without NO_COLOR/--no-color, plain ANSI codes, and
 * left-aligned tables. Data goes to stdout, messages to stderr.
 */
import { stripVTControlCharacters } from 'node:util';

export interface Style {
  readonly enabled: boolean;
  bold(text: string): string;
  dim(text: string): string;
  red(text: string): string;
  green(text: string): string;
  yellow(text: string): string;
  cyan(text: string): string;
}

export function stripAnsi(text: string): string {
  return stripVTControlCharacters(text);
}

export function makeStyle(enabled: boolean): Style {
  const wrap = (open: number, close: number) => (text: string) =>
    enabled ? `\x1b[${open}m${text}\x1b[${close}m` : text;
  return {
    enabled,
    bold: wrap(1, 22),
    dim: wrap(2, 22),
    red: wrap(31, 39),
    green: wrap(32, 39),
    yellow: wrap(33, 39),
    cyan: wrap(36, 39),
  };
}

/** https://no-color.org: any non-empty NO_COLOR turns colour off. */
export function colourWanted(
  stream: { isTTY?: boolean },
  flag: boolean,
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (!flag) return false;
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.TERM === 'dumb') return false;
  return stream.isTTY === true;
}

/** Colours a job or run status by outcome. */
export function paintStatus(style: Style, status: string): string {
  switch (status) {
    case 'passed':
      return style.green(status);
    case 'failed':
    case 'errored':
    case 'lost':
      return style.red(status);
    case 'cancelled':
      return style.yellow(status);
    case 'running':
    case 'assigned':
      return style.cyan(status);
    default:
      return style.dim(status);
  }
}

/** Columns padded to the widest cell; the last column is never padded. Cells may hold ANSI codes. */
export function table(header: readonly string[], rows: readonly (readonly string[])[], style: Style): string {
  const all = [header.map((h) => style.bold(h)), ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => stripAnsi(row[i] ?? '').length)));
  return all
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat((widths[i] ?? 0) - stripAnsi(cell).length)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** ISO timestamp as `2024-05-01 12:00:03Z`, or `-`. */
export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** How long ago `iso` was, roughly: `5s ago`, `3m ago`, `2h ago`, `4d ago`. */
export function formatAgo(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '-';
  const seconds = Math.max(0, Math.floor((now - Date.parse(iso)) / 1000));
  if (!Number.isFinite(seconds)) return '-';
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h ago`;
  return `${Math.floor(seconds / 86_400)}d ago`;
}
