/**
 * The rule for paths inside a bundle: relative POSIX paths that cannot leave the
 * directory they are unpacked into on any platform.
 */

/** Longest path, in UTF-16 code units, that a bundle may hold. */
export const MAX_BUNDLE_PATH = 1024;

// C0 controls, DEL and C1 controls.
const CONTROL = /\p{Cc}/u;
// A UTF-16 surrogate without its partner: not encodable as UTF-8.
const LONE_SURROGATE = /\p{Cs}/u;
const DRIVE = /^[A-Za-z]:/;

/**
 * True when `p` is a safe bundle path: non-empty, at most 1024 characters, relative, using
 * '/' as the only separator, with no empty, '.' or '..' segment, no backslash, no control
 * character and no Windows drive letter.
 */
export function isSafeBundlePath(p: string): boolean {
  if (typeof p !== 'string' || p.length === 0 || p.length > MAX_BUNDLE_PATH) return false;
  if (p.startsWith('/') || p.includes('\\') || DRIVE.test(p)) return false;
  if (CONTROL.test(p) || LONE_SURROGATE.test(p)) return false;
  for (const segment of p.split('/')) {
    if (segment === '' || segment === '.' || segment === '..') return false;
  }
  return true;
}

/** The directories that contain `p`, outermost first: 'a/b/c' gives ['a', 'a/b']. */
export function ancestors(p: string): string[] {
  const out: string[] = [];
  let at = p.indexOf('/');
  while (at !== -1) {
    out.push(p.slice(0, at));
    at = p.indexOf('/', at + 1);
  }
  return out;
}
