// "Did you mean" hints for a misspelt name: the defined names nearest to it by edit distance.
import { distance } from 'fastest-levenshtein';

/** Up to three of `candidates` close to `name` (case aside), nearest first. */
export function closestNames(name: string, candidates: readonly string[]): string[] {
  // A third of the name's length in edits, at least two: "usres" finds "users", "x" finds nothing far.
  const limit = Math.max(2, Math.floor(name.length / 3));
  return candidates
    .map((candidate) => ({ candidate, edits: distance(name.toLowerCase(), candidate.toLowerCase()) }))
    .filter((entry) => entry.edits <= limit)
    .sort((a, b) => a.edits - b.edits)
    .slice(0, 3)
    .map((entry) => entry.candidate);
}

/** `no sync named "usres": did you mean "users"? (defined: users, orders)` */
export function unknownName(kind: string, name: string, candidates: readonly string[]): string {
  const close = closestNames(name, candidates);
  const hint = close.length > 0 ? `: did you mean ${close.map((entry) => `"${entry}"`).join(' or ')}?` : '';
  return `no ${kind} named "${name}"${hint} (defined: ${candidates.join(', ') || 'none'})`;
}
