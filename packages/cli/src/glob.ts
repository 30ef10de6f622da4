/**
 * `--test` values: a glob is expanded against the working directory (sorted, so the same
 * tree always submits in the same order); a plain path is sent as given, because the tests
 * live on the agent hosts and need not exist here.
 */
import { glob, isDynamicPattern } from 'tinyglobby';
import { UsageError } from './errors.js';

/** `./tests/a.spec.js` → `tests/a.spec.js`. */
export function normaliseTestPath(path: string): string {
  let out = path.trim();
  while (out.startsWith('./')) out = out.slice(2).replace(/^\/+/, '');
  return out;
}

export async function expandTests(patterns: readonly string[], cwd: string = process.cwd()): Promise<string[]> {
  const out: string[] = [];
  const seen = new Set<string>();
  const add = (path: string) => {
    if (seen.has(path)) return;
    seen.add(path);
    out.push(path);
  };
  for (const raw of patterns) {
    const pattern = normaliseTestPath(raw);
    if (!isDynamicPattern(pattern)) {
      add(pattern);
      continue;
    }
    const matches = await glob(pattern, {
      cwd,
      onlyFiles: true,
      expandDirectories: false,
      ignore: ['**/node_modules/**', '**/.git/**'],
    });
    if (matches.length === 0) {
      throw new UsageError(`--test pattern ${JSON.stringify(raw)} matched no files under ${cwd}`, {
        hint: 'check the pattern, or run qgjob from the directory the test paths are relative to',
      });
    }
    for (const match of matches.map(normaliseTestPath).sort()) add(match);
  }
  return out;
}
