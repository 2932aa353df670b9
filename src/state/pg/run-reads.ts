// The keys one run read, in a temp table on the run's own connection (PostgreSQL drops it with the
// connection), as SqliteRunReads keeps them for SQLite. A connection holds one at a time.
import type { KeyRead, StoredRecord } from '../contract.js';
import type { Query, Session } from './session.js';

export class PgRunReads {
  /** The number of the last noteReads: an entry read by an earlier call is a repeat. */
  private reads = 0;
  private created = false;

  constructor(private readonly session: Session) {}

  private run<T>(work: (query: Query) => Promise<T>): Promise<T> {
    return this.session.exclusive(async (q) => {
      if (!this.created) {
        await q('drop table if exists pg_temp.seen');
        await q('create temp table seen (key text collate "C" primary key, cursor jsonb, ok boolean not null, read integer not null)');
        this.created = true;
      }
      return work(q);
    });
  }

  async open(): Promise<void> {
    await this.run(async () => undefined);
  }

  async noteReads(reads: KeyRead[], settled: boolean): Promise<string[]> {
    if (reads.length === 0) return [];
    const number = ++this.reads;
    const keys = reads.map((read) => read.key);
    return this.run(async (q) => {
      const added = (
        await q(
          `insert into pg_temp.seen (key, cursor, ok, read) select t.key, t.cursor::jsonb, $3, $4 from unnest($1::text[], $2::text[]) as t(key, cursor)
           on conflict do nothing`,
          [keys, reads.map((read) => (read.cursor === undefined || read.cursor === null ? null : JSON.stringify(read.cursor))), settled, number],
        )
      ).rowCount;
      if (added === reads.length) return [];
      return (await q('select s.key from pg_temp.seen s where s.key = any($1) and s.read < $2', [keys, number])).rows.map((row: { key: string }) => row.key);
    });
  }

  async markSettled(keys: string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.run((q) => q('update pg_temp.seen set ok = true where key = any($1)', [keys]));
  }

  async safeCursor(): Promise<unknown> {
    return this.run(
      async (q) =>
        // jsonb has an order but no max(): the first row in descending order is the largest.
        ((
          await q(`select cursor as value from pg_temp.seen where cursor is not null and (
             not exists (select 1 from pg_temp.seen where not ok and cursor is not null)
             or cursor < (select cursor from pg_temp.seen where not ok and cursor is not null order by cursor limit 1))
           order by cursor desc limit 1`)
        ).rows[0]?.value as unknown) ?? null,
    );
  }

  async unseenKeys(sync: string, after: string, limit: number): Promise<StoredRecord[]> {
    return this.run(
      async (q) =>
        (
          await q(
            `select r.key, r.fingerprint from records r where r.sync = $1 and r.key > $2
             and not exists (select 1 from pg_temp.seen s where s.key = r.key) order by r.key limit $3`,
            [sync, after, limit],
          )
        ).rows as StoredRecord[],
    );
  }
}
