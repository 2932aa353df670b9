// The floor of a first plan: a plain Node script doing only the work a plan cannot avoid. It streams
// the users table of a SQLite warehouse (better-sqlite3, raw rows), builds the payload the bench
// mapping builds (template, trim/lower/upper, nested fields, ISO date), hashes it (sha256 of its JSON)
// and compares it with the hash a Map holds for its key. No threads, no state file, no validation.
//   node dist/bench/floor.js <warehouse.db>
// Prints {"rows": N, "added": N} so the caller can check it read every row.
import Database from 'better-sqlite3';
import { hash } from 'node:crypto';

export function floor(file: string): { rows: number; added: number } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  const statement = db.prepare('select * from users').raw(true);
  const names = statement.columns().map((column) => column.name);
  const at = (name: string) => names.indexOf(name);
  const [id, first, last, email, country, phone, device, plan, updatedAt] = [
    'id',
    'first_name',
    'last_name',
    'email',
    'country',
    'phone',
    'device',
    'plan',
    'updated_at',
  ].map(at);
  const seen = new Map<string, string>();
  let rows = 0;
  let added = 0;
  for (const values of statement.iterate() as Iterable<unknown[]>) {
    const key = String(values[id]);
    const payload = {
      externalId: key,
      displayName: `${values[first]} ${values[last]}`,
      email: String(values[email]).trim().toLowerCase(),
      country: String(values[country]).toUpperCase(),
      phone: values[phone],
      device: values[device],
      tags: { plan: values[plan] },
      metadata: { updatedAt: new Date(String(values[updatedAt])).toISOString() },
    };
    const digest = hash('sha256', JSON.stringify(payload), 'base64url');
    if (seen.get(key) !== digest) added++;
    seen.set(key, digest);
    rows++;
  }
  db.close();
  return { rows, added };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) throw new Error('usage: node dist/bench/floor.js <warehouse.db>');
  console.log(JSON.stringify(floor(file)));
}
