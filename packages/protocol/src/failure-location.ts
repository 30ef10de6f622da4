/**
 * Where a test failed, read from its error: the `at FILE:LINE:COL` line the agent puts under
 * a failed test's message (from the Playwright reporter's location). The CLI's JUnit report
 * and GitHub annotations and the server's submission page read it the same way. A path that
 * is absolute or climbs out (`..`) is not a place in the project, and is skipped.
 */
export interface FailureLocation {
  file: string;
  line: number;
  col?: number;
}

export function failureLocation(error: string | null | undefined): FailureLocation | undefined {
  if (!error) return undefined;
  for (const match of error.matchAll(/^\s*at ([^\s:()]+):(\d+)(?::(\d+))?\s*$/gm)) {
    const [, file, line, col] = match;
    if (file && !file.startsWith('/') && !file.split('/').includes('..')) {
      return { file, line: Number(line), col: col === undefined ? undefined : Number(col) };
    }
  }
  return undefined;
}

/** `FILE:LINE:COL` (or `FILE:LINE`), as people and editors write a place. */
export function formatLocation(at: FailureLocation): string {
  return `${at.file}:${at.line}${at.col === undefined ? '' : `:${at.col}`}`;
}
