/**
 * The error every refusal of the bundle format throws, with a code saying which rule was
 * broken and, when one entry is to blame, that entry's path.
 */

export type BundleErrorCode =
  | 'unsafe_path'
  | 'link'
  | 'special_file'
  | 'duplicate'
  | 'too_large'
  | 'too_many_files'
  | 'corrupt';

export class BundleError extends Error {
  readonly code: BundleErrorCode;
  readonly entry?: string;

  constructor(code: BundleErrorCode, message: string, entry?: string) {
    super(message);
    this.name = 'BundleError';
    this.code = code;
    if (entry !== undefined) this.entry = entry;
  }
}

/** A byte count for messages: exact bytes plus a rounded binary unit when that helps. */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n)) return 'an unrepresentably large number of bytes';
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = '';
  for (const u of units) {
    if (value < 1024) break;
    value /= 1024;
    unit = u;
  }
  if (unit === '') return `${n} bytes`;
  const rounded = value >= 100 || Number.isInteger(value) ? value.toFixed(0) : value.toFixed(1);
  return `${n} bytes (${rounded} ${unit})`;
}

/** A path quoted for an error message, with control characters escaped. */
export function quote(path: string): string {
  return JSON.stringify(path);
}
