// Times in tables as a person reads them ("5 min ago"); --json keeps the exact ISO 8601 time.

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** "just now", "40 s ago", "5 min ago", "3 h ago", "2 days ago"; beyond 30 days the date itself. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '';
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return iso;
  const elapsed = now - at;
  if (elapsed < 0) return iso; // a clock ahead of ours: show the time as it is
  if (elapsed < 10_000) return 'just now';
  if (elapsed < MINUTE) return `${Math.floor(elapsed / 1000)} s ago`;
  if (elapsed < HOUR) return `${Math.floor(elapsed / MINUTE)} min ago`;
  if (elapsed < DAY) return `${Math.floor(elapsed / HOUR)} h ago`;
  const days = Math.floor(elapsed / DAY);
  if (days <= 30) return `${days} day${days === 1 ? '' : 's'} ago`;
  return iso.slice(0, 10);
}
