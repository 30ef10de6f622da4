/**
 * The local files a test imports, so a bundle carries its helpers (page objects, fixtures)
 * and not only the spec. Specifiers are read from the source text — `import … from './x'`,
 * `export … from './x'`, `import './x'`, `import('./x')`, `require('./x')` — and only
 * relative ones are followed, resolved the way Node and TypeScript do: the file itself, with
 * an extension added, a `.js` written for a `.ts` file, or the directory's index. Files
 * outside the root, under node_modules, or holding secrets are never taken.
 */
import { readFile, stat } from 'node:fs/promises';
import { posix } from 'node:path';

const CODE = /\.(?:[cm]?[jt]s|[jt]sx)$/;
const EXTENSIONS = ['.ts', '.tsx', '.mts', '.cts', '.js', '.jsx', '.mjs', '.cjs', '.json'];
/** Following imports stops here: a bundle of helpers, not of a whole program. */
const MAX_FILES = 2000;

const PATTERNS = [
  /\b(?:import|export)\s[^'"`;]*?\bfrom\s*['"]([^'"\n]+)['"]/g,
  /\bimport\s*['"]([^'"\n]+)['"]/g,
  /\b(?:import|require)\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g,
];

/** The relative module specifiers (`./x`, `../y`) a source text imports. */
export function relativeSpecifiers(source: string): string[] {
  const found = new Set<string>();
  for (const pattern of PATTERNS) {
    for (const match of source.matchAll(pattern)) {
      const spec = match[1] as string;
      if (spec.startsWith('./') || spec.startsWith('../')) found.add(spec);
    }
  }
  return [...found];
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

function allowed(path: string): boolean {
  if (path === '..' || path.startsWith('../') || posix.isAbsolute(path)) return false;
  const parts = path.split('/');
  const name = parts[parts.length - 1] as string;
  return !parts.includes('node_modules') && name !== '.npmrc' && !name.startsWith('.env');
}

/** The file `spec` imported from `from` names, relative to the root; undefined when none. */
async function resolveSpecifier(root: string, from: string, spec: string): Promise<string | undefined> {
  const base = posix.normalize(posix.join(posix.dirname(from), spec.replace(/[?#].*$/, '')));
  const candidates = [base, ...EXTENSIONS.map((ext) => base + ext)];
  // TypeScript's ESM style: `./login.js` written for `login.ts`.
  const js = /\.([cm]?)js(x?)$/.exec(base);
  if (js) candidates.push(base.slice(0, -js[0].length) + `.${js[1]}ts${js[2]}`);
  candidates.push(...EXTENSIONS.map((ext) => posix.join(base, `index${ext}`)));
  for (const candidate of candidates) {
    if (allowed(candidate) && (await isFile(posix.join(root, candidate)))) return candidate;
  }
  return undefined;
}

/**
 * Every local file reachable from `files` (paths relative to `root`, POSIX) through
 * relative imports, `files` themselves not included, sorted.
 */
export async function localImports(root: string, files: readonly string[]): Promise<string[]> {
  const seen = new Set(files);
  const found: string[] = [];
  const queue = [...files];
  while (queue.length > 0 && found.length < MAX_FILES) {
    const file = queue.shift() as string;
    if (!CODE.test(file)) continue;
    const source = await readFile(posix.join(root, file), 'utf8').catch(() => '');
    for (const spec of relativeSpecifiers(source)) {
      const target = await resolveSpecifier(root, file, spec);
      if (target === undefined || seen.has(target)) continue;
      seen.add(target);
      found.push(target);
      queue.push(target);
    }
  }
  return found.sort();
}
