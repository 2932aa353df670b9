// The keys one run read, in a temp table on the state's connection: temp tables never touch the
// state file (so `plan` may keep one on a read-only connection), and tens of millions of keys stay
// on disk pages instead of in the process's memory. A state connection holds one at a time.
import type Database from 'better-sqlite3';
import type { KeyRead, RunReads, StoredRecord } from './contract.js';

export class SqliteRunReads implements RunReads {
  private readonly statements;
  /** The number of the last noteReads: an entry read by an earlier call is a repeat. */
  private reads = 0;

  /**
   * No index on cursor: keeping one up to date cost more per row than the one scan safeCursor
   * makes at the end.
   */
  constructor(
    db: Database.Database,
    private readonly guard: <T>(work: () => T) => T,
  ) {
    guard(() =>
      db.exec(`
        drop table if exists temp.seen;
        create temp table seen (key text primary key, cursor, ok integer not null, read integer not null) without rowid;`),
    );
    // A batch is one JSON text unpacked by SQLite: far cheaper than a bound parameter per value.
    // A key already there keeps its first entry.
    const insert = (values: string) =>
      `insert into temp.seen (key, cursor, ok, read) select ${values}, ?, ? from json_each(?) where true on conflict do nothing`;
    this.statements = {
      keys: db.prepare(insert('value, null')),
      keysWithCursors: db.prepare(insert('value ->> 0, value ->> 1')),
      readBefore: db.prepare<[string, number], string>('select s.key from json_each(?) j cross join temp.seen s on s.key = j.value where s.read < ?').pluck(),
      markOk: db.prepare<[string]>('update temp.seen set ok = 1 where key in (select value from json_each(?))'),
      unseen: db.prepare<[string, string, number], StoredRecord>(
        `select key, fingerprint from records
         where sync = ? and key > ? and key not in (select key from temp.seen) order by key limit ?`,
      ),
      safeCursor: db.prepare<[], { value: unknown }>(
        `select max(cursor) as value from temp.seen where cursor is not null and (
           not exists (select 1 from temp.seen where ok = 0 and cursor is not null)
           or cursor < (select min(cursor) from temp.seen where ok = 0 and cursor is not null))`,
      ),
    };
  }

  noteReads(reads: KeyRead[], settled: boolean): string[] {
    if (reads.length === 0) return [];
    return this.guard(() => {
      const { keys, keysWithCursors, readBefore } = this.statements;
      const number = ++this.reads;
      const withCursors = reads.some((read) => read.cursor !== undefined && read.cursor !== null);
      const batch = JSON.stringify(withCursors ? reads.map((read) => [read.key, read.cursor ?? null]) : reads.map((read) => read.key));
      const added = (withCursors ? keysWithCursors : keys).run(settled ? 1 : 0, number, batch).changes;
      return added === reads.length ? [] : readBefore.all(JSON.stringify(reads.map((read) => read.key)), number);
    });
  }

  markSettled(keys: string[]): void {
    if (keys.length === 0) return;
    this.guard(() => this.statements.markOk.run(JSON.stringify(keys)));
  }

  safeCursor(): unknown {
    return this.guard(() => this.statements.safeCursor.get()?.value ?? null);
  }

  unseenKeys(sync: string, after: string, limit: number): StoredRecord[] {
    return this.guard(() => this.statements.unseen.all(sync, after, limit));
  }
}
