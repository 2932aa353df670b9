// Builds the demo warehouse: a SQLite `users` table with deterministic, realistic rows.
import Database from 'better-sqlite3';

const FIRST = ['Ada', 'Grace', 'Alan', 'Edsger', 'Barbara', 'Ken', 'Margaret', 'Linus', 'Radia', 'Donald', 'Frances', 'John'];
const LAST = ['Lovelace', 'Hopper', 'Turing', 'Dijkstra', 'Liskov', 'Thompson', 'Hamilton', 'Torvalds', 'Perlman', 'Knuth', 'Allen', 'Backus'];
const COUNTRIES = ['ng', 'us', 'gb', 'de', 'fr', 'br', 'in', 'jp', 'ke', 'ca'];
const PLANS = ['free', 'pro', 'team', 'enterprise'];
const DEVICES = ['mobile', 'desktop', 'tablet', null];
const SOURCES = ['organic', 'referral', 'facebook_ads', 'newsletter'];

export const USERS_TABLE = `create table users (
  id integer primary key, first_name text, last_name text, email text, country text, phone text,
  device text, plan text, signup_source text, updated_at text not null)`;

/** The user row for id `id`: the same every time. */
export function demoUser(id: number) {
  const first = FIRST[id % FIRST.length];
  const last = LAST[(id * 7) % LAST.length];
  return {
    id,
    first_name: first,
    last_name: last,
    email: ` ${first}.${last}${id}@Example.com `,
    country: COUNTRIES[(id * 3) % COUNTRIES.length],
    phone: id % 5 === 0 ? null : `+1555${String(id).padStart(7, '0')}`,
    device: DEVICES[id % DEVICES.length],
    plan: PLANS[(id * 5) % PLANS.length],
    signup_source: SOURCES[id % SOURCES.length],
    updated_at: new Date(Date.UTC(2026, 0, 1) + id * 60_000).toISOString(),
  };
}

/** Creates `file` with `count` users, inserted in one transaction. */
export function buildWarehouse(file: string, count: number): void {
  const db = new Database(file);
  db.exec('drop table if exists users');
  db.exec(USERS_TABLE);
  const insert = db.prepare('insert into users values (@id, @first_name, @last_name, @email, @country, @phone, @device, @plan, @signup_source, @updated_at)');
  db.transaction(() => {
    for (let id = 1; id <= count; id++) insert.run(demoUser(id));
  })();
  db.close();
}
