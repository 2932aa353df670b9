// "Did you mean" hints for a misspelt name: the defined names nearest to it by edit distance (leven),
// plus names that contain it, since dbt names wear prefixes (users → stg_users, dim_users).
import leven from 'leven';

/** Up to `limit` of `names` close to `target` (case aside), nearest first. */
export function closestNames(target: string, names: readonly string[], limit = 3): string[] {
  const wanted = target.toLowerCase();
  const within = Math.max(2, Math.floor(wanted.length / 3));
  return names
    .map((name) => {
      const lower = name.toLowerCase();
      const distance = leven(wanted, lower, { maxDistance: within + 1 });
      return {
        name,
        distance:
          distance <= within
            ? distance
            : Math.min(wanted.length, lower.length) >= 3 && (lower.includes(wanted) || wanted.includes(lower))
              ? within + 1
              : Infinity,
      };
    })
    .filter((entry) => entry.distance !== Infinity)
    .sort((a, b) => a.distance - b.distance || a.name.localeCompare(b.name))
    .slice(0, limit)
    .map((entry) => entry.name);
}

/** `no sync named "usres": did you mean "users"? (defined: users, orders)` */
export function unknownName(kind: string, name: string, candidates: readonly string[]): string {
  const close = closestNames(name, candidates);
  const hint = close.length > 0 ? `: did you mean ${close.map((entry) => `"${entry}"`).join(' or ')}?` : '';
  return `no ${kind} named "${name}"${hint} (defined: ${candidates.join(', ') || 'none'})`;
}
