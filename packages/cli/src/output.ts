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

export interface TableOptions {
  /**
   * The width to fit, in columns; undefined: no limit. Default: the terminal's width when
   * stdout is a terminal (`terminalColumns()`), else no limit, so piped output is whole.
   */
  width?: number | undefined;
  /**
   * Columns that may be cut to fit, by index: the widest of them is cut first. Default: the
   * widest column. Ids are best left out, so that what is shown can be copied.
   */
  flexible?: readonly number[];
}

/** The width of the terminal stdout writes to, or undefined when it is not a terminal. `COLUMNS` stands in when the terminal does not say. */
export function terminalColumns(
  stream: { isTTY?: boolean; columns?: number } = process.stdout,
  env: NodeJS.ProcessEnv = process.env,
): number | undefined {
  if (stream.isTTY !== true) return undefined;
  if (stream.columns !== undefined && stream.columns > 0) return stream.columns;
  const columns = Number(env.COLUMNS);
  return Number.isSafeInteger(columns) && columns > 0 ? columns : undefined;
}

/** A column is never cut below this many characters (or its header, or its widest cell if narrower). */
const MIN_COLUMN = 10;

/** `text` cut to `width` characters, ending in `…`; a cut cell loses its colour. */
export function truncate(text: string, width: number): string {
  const plain = stripAnsi(text);
  if (plain.length <= width) return text;
  return width <= 1 ? '…'.slice(0, width) : `${plain.slice(0, width - 1)}…`;
}

/** How wide each column may be so that the lines fit `width`: the widest flexible column gives way first. */
function fitWidths(widths: number[], header: readonly string[], width: number, flexible: readonly number[]): number[] {
  const out = [...widths];
  const gaps = 2 * Math.max(0, out.length - 1);
  const floor = (i: number) => Math.min(widths[i] ?? 0, Math.max(MIN_COLUMN, header[i]?.length ?? 0));
  let over = out.reduce((sum, w) => sum + w, 0) + gaps - width;
  while (over > 0) {
    let widest = -1;
    for (const i of flexible) {
      if ((out[i] ?? 0) > floor(i) && (widest < 0 || (out[i] ?? 0) > (out[widest] ?? 0))) widest = i;
    }
    if (widest < 0) break;
    out[widest] = (out[widest] ?? 0) - 1;
    over--;
  }
  return out;
}

/**
 * Columns padded to the widest cell; the last column is never padded. Cells may hold ANSI
 * codes. On a terminal the lines are fitted to its width (see TableOptions).
 */
export function table(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  style: Style,
  options: TableOptions = {},
): string {
  const width = 'width' in options ? options.width : terminalColumns();
  const all = [header.map((h) => style.bold(h)), ...rows];
  let widths = header.map((_, i) => Math.max(...all.map((row) => stripAnsi(row[i] ?? '').length)));
  if (width !== undefined) {
    const widest = widths.indexOf(Math.max(...widths));
    widths = fitWidths(widths, header, width, options.flexible ?? [widest]);
  }
  return all
    .map((row) =>
      row
        .map((cell, i) => {
          const w = widths[i] ?? 0;
          const fitted = width === undefined ? cell : truncate(cell, w);
          return i === row.length - 1 ? fitted : fitted + ' '.repeat(Math.max(0, w - stripAnsi(fitted).length));
        })
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

/** `1 job`, `2 jobs`; `plural(1, 'batch', 'batches')`. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
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
