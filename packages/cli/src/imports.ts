/**
 * The local files a test imports, so a bundle carries its helpers (page objects, fixtures)
 * and not only the spec. Specifiers are read from the source text, comments left out —
 * `import … from './x'`, `export … from './x'`, `import './x'`, `import('./x')`,
 * `require('./x')` — and only relative ones are followed, resolved the way Node and
 * TypeScript do: the file itself, with an extension added, a `.js` written for a `.ts` file,
 * or the directory's index. Files outside the root, under node_modules, or holding secrets
 * are never taken; an import that names no file, or a file outside the root, is reported
 * (scanImports) so that the submitter learns before the device does.
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

/**
 * `source` with its `//` and `/* … *\/` comments blanked out, string and template literals
 * kept as they are (a glob such as `'**\/*.spec.ts'` is no comment). Quoted strings end at
 * the line's end, so a quote the scan misreads (in a regular expression) costs one line at
 * most, and only in the safe direction: text taken for a string keeps its comments.
 */
export function withoutComments(source: string): string {
  let out = '';
  let i = 0;
  let start = 0;
  const n = source.length;
  while (i < n) {
    const c = source[i];
    if (c === '/' && (source[i + 1] === '/' || source[i + 1] === '*')) {
      out += source.slice(start, i);
      const line = source[i + 1] === '/';
      const end = line ? source.indexOf('\n', i + 2) : source.indexOf('*/', i + 2);
      i = end === -1 ? n : line ? end : end + 2;
      out += ' ';
      start = i;
      continue;
    }
    if (c === "'" || c === '"' || c === '`') {
      i++;
      while (i < n && source[i] !== c && (c === '`' || source[i] !== '\n')) i += source[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    i++;
  }
  return out + source.slice(start, n);
}

/** The relative module specifiers (`./x`, `../y`) a source text imports, outside comments. */
export function relativeSpecifiers(source: string): string[] {
  const code = withoutComments(source);
  const found = new Set<string>();
  for (const pattern of PATTERNS) {
    for (const match of code.matchAll(pattern)) {
      const spec = match[1] as string;
      if (spec.startsWith('./') || spec.startsWith('../')) found.add(spec);
    }
  }
  return [...found];
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

function outsideRoot(path: string): boolean {
  return path === '..' || path.startsWith('../') || posix.isAbsolute(path);
}

function allowed(path: string): boolean {
  if (outsideRoot(path)) return false;
  const parts = path.split('/');
  const name = parts[parts.length - 1] as string;
  return !parts.includes('node_modules') && name !== '.npmrc' && !name.startsWith('.env');
}

/** What an import names: a file to take, one never taken (dependencies, secrets), or a problem. */
type Resolution =
  | { kind: 'file'; path: string }
  | { kind: 'excluded' }
  | { kind: 'missing' }
  | { kind: 'outside_root' };

/** The file `spec` imported from `from` names, relative to the root. */
async function resolveSpecifier(root: string, from: string, spec: string): Promise<Resolution> {
  // Through the absolute path, so that `../root-name/x` from the top is seen to stay inside.
  const target = posix.join(root, posix.dirname(from), spec.replace(/[?#].*$/, ''));
  const base = posix.relative(root, target) || '.';
  // Dependencies come from the device's npm install, never from the bundle.
  if (base.split('/').includes('node_modules')) return { kind: 'excluded' };
  const candidates = [base, ...EXTENSIONS.map((ext) => base + ext)];
  // TypeScript's ESM style: `./login.js` written for `login.ts`.
  const js = /\.([cm]?)js(x?)$/.exec(base);
  if (js) candidates.push(base.slice(0, -js[0].length) + `.${js[1]}ts${js[2]}`);
  candidates.push(...EXTENSIONS.map((ext) => posix.join(base, `index${ext}`)));
  let excluded = false;
  for (const candidate of candidates) {
    if (!(await isFile(posix.join(root, candidate)))) continue;
    if (outsideRoot(candidate)) return { kind: 'outside_root' };
    if (allowed(candidate)) return { kind: 'file', path: candidate };
    excluded = true;
  }
  return excluded ? { kind: 'excluded' } : { kind: 'missing' };
}

/** An import a bundle cannot honour: it names no file, or a file outside the root. */
export interface ImportProblem {
  kind: 'missing' | 'outside_root';
  /** The importing file, relative to the root, POSIX. */
  file: string;
  /** The specifier as written, e.g. `./helpers/login.js`. */
  specifier: string;
}

export interface ImportScan {
  /** Every local file reachable through relative imports, the starting files not included, sorted. */
  files: string[];
  /** One per importing file and specifier, in the order they were met. */
  problems: ImportProblem[];
}

/**
 * Follows the relative imports of `files` (paths relative to `root`, POSIX) and theirs in
 * turn: the files they reach, and the imports that reach no file or leave the root.
 */
export async function scanImports(root: string, files: readonly string[]): Promise<ImportScan> {
  const seen = new Set(files);
  const found: string[] = [];
  const problems: ImportProblem[] = [];
  const queue = [...files];
  while (queue.length > 0 && found.length < MAX_FILES) {
    const file = queue.shift() as string;
    if (!CODE.test(file)) continue;
    const source = await readFile(posix.join(root, file), 'utf8').catch(() => '');
    for (const specifier of relativeSpecifiers(source)) {
      const target = await resolveSpecifier(root, file, specifier);
      if (target.kind === 'missing' || target.kind === 'outside_root') {
        problems.push({ kind: target.kind, file, specifier });
        continue;
      }
      if (target.kind !== 'file' || seen.has(target.path)) continue;
      seen.add(target.path);
      found.push(target.path);
      queue.push(target.path);
    }
  }
  return { files: found.sort(), problems };
}

/**
 * Every local file reachable from `files` (paths relative to `root`, POSIX) through
 * relative imports, `files` themselves not included, sorted.
 */
export async function localImports(root: string, files: readonly string[]): Promise<string[]> {
  return (await scanImports(root, files)).files;
}
