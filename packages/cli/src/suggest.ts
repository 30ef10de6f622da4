/** "Did you mean …?" for a mistyped command name, as commander words it for options and commands. */

/** Edit distance counting a swap of two neighbours as one edit (`sumbit` → `submit`). */
function distance(a: string, b: string): number {
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => d[i]?.[j] ?? 0;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/** ` (Did you mean submit?)`, or '' when no candidate is close. */
export function suggestion(word: string, candidates: readonly string[]): string {
  let best = Number.POSITIVE_INFINITY;
  let found: string[] = [];
  for (const candidate of candidates) {
    if (candidate.length <= 1) continue;
    const d = distance(word, candidate);
    const length = Math.max(word.length, candidate.length);
    if (d > 3 || (length - d) / length <= 0.4) continue;
    if (d < best) {
      best = d;
      found = [candidate];
    } else if (d === best) found.push(candidate);
  }
  if (found.length === 0) return '';
  return found.length === 1 ? ` (Did you mean ${found[0]}?)` : ` (Did you mean one of ${found.join(', ')}?)`;
}
