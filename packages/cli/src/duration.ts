/** `--timeout` values: `90s`, `30m`, `1h30m`, `500ms`, `1.5h`; a plain number is seconds. */

// One parser for every package: the protocol's.
import { parseDuration, parseDurationFlag } from '@qgjob/protocol';
import { USAGE } from './flags.js';

export { parseDuration };

/** Parses a flag's duration or throws a usage error naming the flag. */
export function durationFlag(flag: string, text: string): number {
  return parseDurationFlag(flag, text, USAGE);
}

/** Short human duration: `850ms`, `12.3s`, `2m05s`, `1h02m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(Math.floor(ms / 100) / 10).toFixed(1)}s`;
  const totalSeconds = Math.floor(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  if (hours > 0) return `${hours}h${String(minutes).padStart(2, '0')}m`;
  return `${minutes}m${String(seconds).padStart(2, '0')}s`;
}
