// State: what was last confirmed per record, rejections, runs, cursors and locks, in one SQLite file.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MIGRATIONS } from './migrations.js';

export class StateError extends Error {}

/** The sync is running in another process (or another run of this one). */
export class SyncLockedError extends StateError {}

/** What was last confirmed for a record: its key and the fingerprint of the payload sent. */
export interface StoredRecord {
  key: string;
  fingerprint: string;
}

export interface StoredRejection {
  key: string;
  fingerprint: string;
  reason: string;
  status: number | null;
  attempts: number;
  first_at: string;
  last_at: string;
}

export interface Confirmation {
  key: string;
  fingerprint: string;
  payload: unknown;
}

export interface Rejection {
  key: string;
  fingerprint: string;
  status: number | null;
  reason: string;
}

export type RunOutcome = 'running' | 'success' | 'partial' | 'failed' | 'stopped' | 'interrupted';

export interface RunRow {
  id: number;
  sync: string;
  started_at: string;
  ended_at: string | null;
  outcome: RunOutcome;
  full: number;
  counts: string;
  error: string | null;
}

const now = () => new Date().toISOString();

/** Rows per statement when filling the temp `seen` table (3 parameters each, far below SQLite's limit). */
const SEEN_ROWS_PER_INSERT = 100;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class StateStore {
  private readonly db: Database.Database;
  private readonly statements;

  private constructor(db: Database.Database, readonly file: string) {
    this.db = db;
    // `cross join` keeps the batch of keys as the outer loop, so each key is one primary-key probe.
    // With a plain join SQLite's planner scans every record of the sync and, for each, the whole
    // batch: quadratic in the table size (a 100,000-row plan took minutes).
    this.statements = {
      lookupFingerprints: db
        .prepare<[string, string], [string, string]>('select r.key, r.fingerprint from json_each(?) j cross join records r on r.sync = ? and r.key = j.value')
        .raw(),
      lookupPayloads: db
        .prepare<[string, string], [string, string]>('select r.key, r.payload from json_each(?) j cross join records r on r.sync = ? and r.key = j.value')
        .raw(),
      lookupRejections: db.prepare<[string, string]>(
        'select x.key, x.fingerprint, x.reason, x.status, x.attempts, x.first_at, x.last_at from json_each(?) j cross join rejections x on x.sync = ? and x.key = j.value',
      ),
      upsertRecord: db.prepare(
        `insert into records (sync, key, fingerprint, payload, sent_at, run_id) values (?, ?, ?, ?, ?, ?)
         on conflict (sync, key) do update set fingerprint = excluded.fingerprint, payload = excluded.payload,
         sent_at = excluded.sent_at, run_id = excluded.run_id`,
      ),
      deleteRejection: db.prepare('delete from rejections where sync = ? and key = ?'),
      upsertRejection: db.prepare(
        `insert into rejections (sync, key, fingerprint, status, reason, attempts, first_at, last_at, run_id)
         values (@sync, @key, @fingerprint, @status, @reason, 1, @at, @at, @run)
         on conflict (sync, key) do update set
           attempts = rejections.attempts + 1,
           first_at = case when rejections.fingerprint = excluded.fingerprint then rejections.first_at else excluded.first_at end,
           fingerprint = excluded.fingerprint, status = excluded.status, reason = excluded.reason,
           last_at = excluded.last_at, run_id = excluded.run_id`,
      ),
      insertIssue: db.prepare('insert into run_issues (run_id, key, class, status, reason) values (?, ?, ?, ?, ?)'),
      bumpGeneration: db.prepare(
        'insert into generations (sync, generation) values (?, 1) on conflict (sync) do update set generation = generation + 1',
      ),
    };
  }

  /** Opens (creating and migrating) the state file. */
  static open(file: string): StateStore {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    return StateStore.connect(file, false);
  }

  /**
   * Opens the state for reading only (`plan`, `status`): never creates the file; a missing file
   * reads as empty state, held in memory.
   */
  static openForReading(file: string): StateStore {
    return fs.existsSync(file) ? StateStore.connect(file, true) : StateStore.connect(':memory:', false, file);
  }

  private static connect(file: string, readonly: boolean, displayName = file): StateStore {
    let db: Database.Database;
    try {
      db = new Database(file, { readonly, fileMustExist: readonly });
      db.pragma('busy_timeout = 10000');
      if (!readonly) {
        db.pragma('journal_mode = WAL');
        // NORMAL in WAL mode survives a process crash; a power loss may forget the last commits, which
        // only means re-sending them (at-least-once), never losing an update.
        db.pragma('synchronous = NORMAL');
      }
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > MIGRATIONS.length) {
        throw new StateError(
          `state file ${displayName} was written by a newer Backflow (schema ${version}, this one knows ${MIGRATIONS.length}): upgrade Backflow`,
        );
      }
      if (version < MIGRATIONS.length) {
        if (readonly) {
          db.close();
          return StateStore.connect(':memory:', false, displayName).withNote(
            `state file ${displayName} has schema ${version}; run a sync to migrate it`,
          );
        }
        db.transaction(() => {
          for (const migration of MIGRATIONS.slice(version)) db.exec(migration);
          db.pragma(`user_version = ${MIGRATIONS.length}`);
        }).immediate();
      }
      // A quick structural check: a damaged file must be refused, never silently reset.
      db.prepare('select count(*) from runs').get();
    } catch (error) {
      if (error instanceof StateError) throw error;
      const code = (error as { code?: string }).code ?? '';
      if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
        throw new StateError(
          `state file ${displayName} is not a valid Backflow state database (${(error as Error).message}). ` +
            'It was not changed. Restore it from a backup, or move it aside to start over (every record will be sent again).',
        );
      }
      if (code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_BUSY' || code === 'SQLITE_FULL') {
        throw new StateError(`cannot use state file ${displayName}: ${(error as Error).message} (${code}). Check its permissions, free disk space, and that no other process holds it.`);
      }
      throw error;
    }
    return new StateStore(db, displayName);
  }

  /** A message about the state worth telling the user (e.g. an unmigrated file read as empty). */
  note?: string;
  private withNote(note: string): StateStore {
    this.note = note;
    return this;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }

  // --- records --------------------------------------------------------------------------------

  /**
   * For these keys: the fingerprint last confirmed (`records`, key → fingerprint) and the standing
   * rejection. Payloads are left out: only changed records need them (confirmedPayloads).
   */
  lookup(sync: string, keys: string[]): { records: Map<string, string>; rejections: Map<string, StoredRejection> } {
    const json = JSON.stringify(keys);
    const records = new Map<string, string>(this.statements.lookupFingerprints.all(json, sync));
    const rejections = new Map<string, StoredRejection>();
    for (const row of this.statements.lookupRejections.all(json, sync) as StoredRejection[]) rejections.set(row.key, row);
    return { records, rejections };
  }

  /** The payloads (JSON text) last confirmed for these keys, for field diffs. */
  confirmedPayloads(sync: string, keys: string[]): Map<string, string> {
    return new Map(keys.length === 0 ? [] : this.statements.lookupPayloads.all(JSON.stringify(keys), sync));
  }

  /** Commits records the destination confirmed (and clears their rejections) in one transaction. */
  commitConfirmed(sync: string, runId: number | null, confirmed: Confirmation[]): void {
    if (confirmed.length === 0) return;
    const at = now();
    this.db.transaction(() => {
      for (const record of confirmed) {
        this.statements.upsertRecord.run(sync, record.key, record.fingerprint, JSON.stringify(record.payload), at, runId);
        this.statements.deleteRejection.run(sync, record.key);
      }
      this.statements.bumpGeneration.run(sync);
    })();
  }

  /** Records rejections (sent, refused: retried next run) and per-run issues (rejected, invalid, failed). */
  recordIssues(sync: string, runId: number, issues: (Rejection & { class: 'rejected' | 'failed' | 'invalid' })[]): void {
    if (issues.length === 0) return;
    const at = now();
    this.db.transaction(() => {
      for (const issue of issues) {
        if (issue.class !== 'invalid') {
          this.statements.upsertRejection.run({ sync, key: issue.key, fingerprint: issue.fingerprint, status: issue.status, reason: issue.reason, at, run: runId });
        }
        this.statements.insertIssue.run(runId, issue.key, issue.class, issue.status, issue.reason);
      }
      this.statements.bumpGeneration.run(sync);
    })();
  }

  /** Keys confirmed earlier that are not in the temp `seen` table, a page at a time (for `removed`). */
  unseenKeys(sync: string, after: string, limit: number): StoredRecord[] {
    return this.db
      .prepare(
        `select key, fingerprint from records
         where sync = ? and key > ? and key not in (select key from temp.seen) order by key limit ?`,
      )
      .all(sync, after, limit) as StoredRecord[];
  }

  /** Clears unchanged records' stale rejections (the destination already holds what we would send). */
  clearRejection(sync: string, key: string): void {
    this.statements.deleteRejection.run(sync, key);
  }

  // --- the per-run table of keys read (duplicates, removed records, cursor) --------------------

  /** Statements on the temp table, prepared once it exists. */
  private seen?: { insertOne: Database.Statement; insertMany: Database.Statement; readAmong: Database.Statement<[string], string>; markOk: Database.Statement<[string]> };

  /**
   * A fresh temp table on this connection; temp tables never touch the state file. No index on
   * cursor: keeping one up to date cost more per row than the one scan safeCursor makes at the end.
   */
  resetSeen(): void {
    this.db.exec(`
      drop table if exists temp.seen;
      create temp table seen (key text primary key, cursor, ok integer not null) without rowid;`);
    const insert = 'insert or ignore into temp.seen (key, cursor, ok) values ';
    this.seen = {
      insertOne: this.db.prepare(`${insert}(?, ?, ?)`),
      insertMany: this.db.prepare(insert + Array(SEEN_ROWS_PER_INSERT).fill('(?, ?, ?)').join(', ')),
      readAmong: this.db.prepare<[string], string>('select s.key from json_each(?) j cross join temp.seen s on s.key = j.value').pluck(),
      markOk: this.db.prepare<[string]>('update temp.seen set ok = 1 where key in (select value from json_each(?))'),
    };
  }

  /** For each key, whether this run reads it for the first time (not in an earlier batch, nor earlier in `keys`). */
  firstReads(keys: string[]): boolean[] {
    const earlier = new Set(this.seen!.readAmong.all(JSON.stringify(keys)));
    return keys.map((key) => {
      if (earlier.has(key)) return false;
      earlier.add(key);
      return true;
    });
  }

  /**
   * Adds keys read, in order, with their cursor and whether they are settled (`ok`: nothing to
   * confirm); a key already there keeps its first entry. One transaction per batch.
   */
  addSeen(entries: { key: string; cursor: unknown; ok: boolean }[]): void {
    const { insertOne, insertMany } = this.seen!;
    const values = (entry: (typeof entries)[number]) => [entry.key, entry.cursor, entry.ok ? 1 : 0];
    this.db.transaction(() => {
      // Many rows per statement: the per-call cost, not SQLite's, dominated one row per statement.
      let index = 0;
      for (; index + SEEN_ROWS_PER_INSERT <= entries.length; index += SEEN_ROWS_PER_INSERT) {
        insertMany.run(entries.slice(index, index + SEEN_ROWS_PER_INSERT).flatMap(values));
      }
      for (; index < entries.length; index++) insertOne.run(values(entries[index]));
    })();
  }

  markSeenOk(keys: string[]): void {
    if (keys.length === 0) return;
    this.seen!.markOk.run(JSON.stringify(keys));
  }

  /** The largest cursor value below every row that was not confirmed; null when none qualifies. */
  safeCursor(): unknown {
    const row = this.db
      .prepare(
        `select max(cursor) as value from temp.seen where cursor is not null and (
           not exists (select 1 from temp.seen where ok = 0 and cursor is not null)
           or cursor < (select min(cursor) from temp.seen where ok = 0 and cursor is not null))`,
      )
      .get() as { value: unknown };
    return row.value ?? null;
  }

  // --- cursors, generations ------------------------------------------------------------------

  getCursor(sync: string): unknown {
    const row = this.db.prepare('select value from cursors where sync = ?').get(sync) as { value: string } | undefined;
    return row ? JSON.parse(row.value) : null;
  }

  setCursor(sync: string, value: unknown): void {
    this.db
      .prepare('insert into cursors (sync, value, updated_at) values (?, ?, ?) on conflict (sync) do update set value = excluded.value, updated_at = excluded.updated_at')
      .run(sync, JSON.stringify(value), now());
  }

  generation(sync: string): number {
    const row = this.db.prepare('select generation from generations where sync = ?').get(sync) as { generation: number } | undefined;
    return row?.generation ?? 0;
  }

  // --- runs -------------------------------------------------------------------------------------

  startRun(sync: string, full: boolean): number {
    return Number(
      this.db.prepare('insert into runs (sync, started_at, full, pid) values (?, ?, ?, ?)').run(sync, now(), full ? 1 : 0, process.pid).lastInsertRowid,
    );
  }

  finishRun(id: number, outcome: RunOutcome, counts: Record<string, number>, error?: string): void {
    this.db
      .prepare('update runs set ended_at = ?, outcome = ?, counts = ?, error = ? where id = ?')
      .run(now(), outcome, JSON.stringify(counts), error ?? null, id);
  }

  /** Runs left `running` by a process that no longer exists are marked interrupted. */
  markInterruptedRuns(sync: string): void {
    const rows = this.db.prepare("select id, pid from runs where sync = ? and outcome = 'running'").all(sync) as { id: number; pid: number | null }[];
    for (const row of rows) {
      if (row.pid === null || !isAlive(row.pid) || row.pid === process.pid) {
        this.db.prepare("update runs set outcome = 'interrupted', ended_at = coalesce(ended_at, ?), error = coalesce(error, 'the process ended before the run finished') where id = ?").run(now(), row.id);
      }
    }
  }

  lastRuns(): RunRow[] {
    return this.db.prepare('select * from runs where id in (select max(id) from runs group by sync) order by sync').all() as RunRow[];
  }

  runs(sync: string | undefined, limit: number): RunRow[] {
    return (
      sync
        ? this.db.prepare('select * from runs where sync = ? order by id desc limit ?').all(sync, limit)
        : this.db.prepare('select * from runs order by id desc limit ?').all(limit)
    ) as RunRow[];
  }

  runIssues(runId: number, limit: number): { key: string; class: string; status: number | null; reason: string }[] {
    return this.db.prepare('select key, class, status, reason from run_issues where run_id = ? limit ?').all(runId, limit) as never;
  }

  rejections(sync: string | undefined, limit: number): (StoredRejection & { sync: string })[] {
    return (
      sync
        ? this.db.prepare('select * from rejections where sync = ? order by last_at desc, key limit ?').all(sync, limit)
        : this.db.prepare('select * from rejections order by sync, last_at desc, key limit ?').all(limit)
    ) as never;
  }

  /** When the sync last completed a run (success or partial: every record was tried), or null. */
  lastCompletedAt(sync: string): string | null {
    const row = this.db.prepare("select max(ended_at) as at from runs where sync = ? and outcome in ('success', 'partial')").get(sync) as { at: string | null };
    return row.at;
  }

  /** Throws when the state file cannot be read (the daemon's /readyz). */
  check(): void {
    this.db.prepare('select count(*) from runs').get();
  }

  recordCount(sync: string): number {
    return (this.db.prepare('select count(*) as n from records where sync = ?').get(sync) as { n: number }).n;
  }

  /** Forgets a sync's records, rejections and cursor, so the next run sends everything. */
  reset(sync: string): { records: number } {
    return this.db.transaction(() => {
      const records = this.db.prepare('delete from records where sync = ?').run(sync).changes;
      this.db.prepare('delete from rejections where sync = ?').run(sync);
      this.db.prepare('delete from cursors where sync = ?').run(sync);
      this.statements.bumpGeneration.run(sync);
      return { records };
    })();
  }

  // --- locks ------------------------------------------------------------------------------------

  /**
   * Takes the sync's lock, or throws naming the holder. A lock left by a process that died (crash,
   * SIGKILL) on this host is taken over.
   */
  acquireLock(sync: string, runId: number | null): void {
    const host = os.hostname();
    this.db.transaction(() => {
      const holder = this.db.prepare('select pid, host, acquired_at from locks where sync = ?').get(sync) as { pid: number; host: string; acquired_at: string } | undefined;
      if (holder && !(holder.host === host && (!isAlive(holder.pid) || holder.pid === process.pid))) {
        throw new SyncLockedError(
          `sync "${sync}" is already running (process ${holder.pid} on ${holder.host}, since ${holder.acquired_at}). ` +
            'Wait for it to finish; a lock left by a crashed process on this host is released automatically.',
        );
      }
      this.db.prepare('insert or replace into locks (sync, pid, host, run_id, acquired_at) values (?, ?, ?, ?, ?)').run(sync, process.pid, host, runId, now());
    }).immediate();
  }

  releaseLock(sync: string): void {
    if (!this.db.open) return;
    this.db.prepare('delete from locks where sync = ? and pid = ?').run(sync, process.pid);
  }
}
