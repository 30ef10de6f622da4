/** Durations in flags: `90s`, `15m`, `1h30m`, `500ms`; a plain number is seconds. */

// One parser for every package: the protocol's.
import { parseDuration } from '@qgjob/protocol';

export { parseDuration };

/** Short human duration for logs and error messages: `850ms`, `12.3s`, `15m`, `1h30m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${Math.round(ms / 100) / 10}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1000);
  const hours = Math.floor(minutes / 60);
  if (hours > 0) return `${hours}h${minutes % 60 > 0 ? `${minutes % 60}m` : ''}`;
  return seconds > 0 ? `${minutes}m${seconds}s` : `${minutes}m`;
}
