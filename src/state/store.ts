// State: what was last confirmed per record, rejections, runs, cursors and locks, in one SQLite file.
import Database from 'better-sqlite3';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { redact } from '../redact.js';
import {
  toRejectionRecord,
  toRunRecord,
  toStandingRejection,
  type RejectionRecord,
  type RejectionRow,
  type RunIssue,
  type RunOutcome,
  type RunRecord,
  type RunRow,
  type StandingRejection,
} from './history.js';
import { describeHolder, heartbeatIntervalMs, holderLiveness, pidIsAlive, type LockHolder } from './locks.js';
import { MIGRATIONS } from './migrations.js';
import { explainSqliteError, openVersioned, type SqliteFileKind, type VersionedFile } from '../sqlite/open.js';

import { StateError, SyncLockedError } from '../errors.js';
import type { Confirmation, JobResult, LockOptions, NewRunIssue, RunReads, Store, UnlockResult } from './contract.js';
import { SqliteRunReads } from './run-reads.js';

const now = () => new Date().toISOString();

const STATE_TABLES = ['records', 'rejections', 'runs', 'run_issues', 'cursors', 'locks', 'generations', 'mappings'];

const STATE_FILE: SqliteFileKind = {
  noun: 'state file',
  valid: 'Backflow state database',
  setting: 'state.path',
  restore: 'Restore it from a backup, or move it aside to start over (every record will be sent again).',
  fullDisk: 'Free some space and run again: records confirmed since the last commit are sent again (at-least-once), none is lost.',
  error: StateError,
};

const STATE_SCHEMA: VersionedFile = {
  kind: STATE_FILE,
  migrations: MIGRATIONS,
  tables: STATE_TABLES,
  // NORMAL in WAL mode survives a process crash; a power loss may forget the last commits, which
  // only means re-sending them (at-least-once), never losing an update.
  writerPragmas: ['synchronous = NORMAL'],
};

/** A consistent copy of the database (with what its WAL holds) in a temp folder; the caller migrates it. */
function copyToTempFolder(db: Database.Database): string {
  const copy = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'backflow-state-')), 'state.db');
  db.prepare('vacuum into ?').run(copy);
  return copy;
}

/** The state in one SQLite file: the first implementation of the store contract (src/state/contract.ts). */
export class StateStore implements Store {
  private readonly db: Database.Database;
  private readonly statements;

  private constructor(
    db: Database.Database,
    readonly file: string,
  ) {
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
      lookupRejections: db.prepare<[string, string], RejectionRow>('select x.* from json_each(?) j cross join rejections x on x.sync = ? and x.key = j.value'),
      upsertRecord: db.prepare(
        `insert into records (sync, key, fingerprint, payload, sent_at, run_id, row_hash, source_hash) values (?, ?, ?, ?, ?, ?, ?, ?)
         on conflict (sync, key) do update set fingerprint = excluded.fingerprint, payload = excluded.payload,
         sent_at = excluded.sent_at, run_id = excluded.run_id, row_hash = excluded.row_hash, source_hash = excluded.source_hash`,
      ),
      setRowHash: db.prepare('update records set row_hash = ? where sync = ? and key = ?'),
      setSourceHash: db.prepare('update records set source_hash = ? where sync = ? and key = ?'),
      lookupSourceHashes: db
        .prepare<[string, string], [string, string | null]>(
          'select r.key, r.source_hash from json_each(?) j cross join records r indexed by records_source_hashes on r.sync = ? and r.key = j.value',
        )
        .raw(),
      // The covering index, named: SQLite's planner would pick the primary key and read the payloads.
      lookupRowHashes: db
        .prepare<[string, string], [string, string | null]>(
          'select r.key, r.row_hash from json_each(?) j cross join records r indexed by records_row_hashes on r.sync = ? and r.key = j.value',
        )
        .raw(),
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
      bumpGeneration: db.prepare('insert into generations (sync, generation) values (?, 1) on conflict (sync) do update set generation = generation + 1'),
    };
  }

  /** Opens (creating and migrating) the state file. */
  static open(file: string): StateStore {
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const blocked = code === 'EEXIST' || code === 'ENOTDIR';
      throw new StateError(
        blocked
          ? `cannot create the state folder ${path.dirname(file)}: a file is in the way (${(error as NodeJS.ErrnoException).path ?? path.dirname(file)}); move it, or set state.path to another folder`
          : `cannot create the state folder ${path.dirname(file)}: ${(error as Error).message}; check its permissions, or set state.path to another folder`,
      );
    }
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
    const { db, olderVersion } = openVersioned(file, STATE_SCHEMA, { readonly, displayName });
    if (olderVersion === undefined) return new StateStore(db, displayName);
    // Reading must not change the file: an older one is read through a migrated copy.
    let copy: string;
    try {
      copy = copyToTempFolder(db);
    } catch (error) {
      throw explainSqliteError(error, displayName, STATE_FILE, true);
    } finally {
      db.close();
    }
    const store = StateStore.connect(copy, false, displayName);
    store.temporaryCopy = copy;
    return store.withNote(`state file ${displayName} has schema ${olderVersion}; run a sync to migrate it`);
  }

  /** A message about the state worth telling the user (e.g. an unmigrated file read through a copy). */
  note?: string;
  /** The migrated copy an older file is read through, removed on close. */
  private temporaryCopy?: string;
  private withNote(note: string): StateStore {
    this.note = note;
    return this;
  }

  close(): void {
    for (const sync of [...this.heldLocks.keys()]) this.stopHeartbeat(sync);
    if (this.db.open) this.db.close();
    if (this.temporaryCopy) fs.rmSync(path.dirname(this.temporaryCopy), { recursive: true, force: true });
  }

  /** Runs a read or write of the state, turning SQLite's failures into messages about the file. */
  private guard<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      throw explainSqliteError(error, this.file, STATE_FILE, false);
    }
  }

  // --- records --------------------------------------------------------------------------------

  /**
   * For these keys: the fingerprint last confirmed (`records`, key → fingerprint) and the standing
   * rejection. Payloads are left out: only changed records need them (confirmedPayloads).
   */
  lookup(sync: string, keys: string[]): { records: Map<string, string>; rejections: Map<string, StandingRejection> } {
    return this.guard(() => {
      const json = JSON.stringify(keys);
      const records = new Map<string, string>(this.statements.lookupFingerprints.all(json, sync));
      const rejections = new Map<string, StandingRejection>();
      for (const row of this.statements.lookupRejections.all(json, sync)) rejections.set(row.key, toStandingRejection(row));
      return { records, rejections };
    });
  }

  /** For these keys, the hash of the source row their confirmed payload came from (null: not kept). */
  rowHashes(sync: string, keys: string[]): Map<string, string | null> {
    return this.guard(() => new Map(this.statements.lookupRowHashes.all(JSON.stringify(keys), sync)));
  }

  /** For these keys, the database's hash of the row their confirmed payload came from (null: not kept). */
  sourceHashes(sync: string, keys: string[]): Map<string, string | null> {
    return this.guard(() => new Map(this.statements.lookupSourceHashes.all(JSON.stringify(keys), sync)));
  }

  /** Records that the confirmed payloads of these keys also come from rows the database hashed so. */
  setSourceHashes(sync: string, rows: { key: string; sourceHash: string }[]): void {
    if (rows.length === 0) return;
    this.guard(() =>
      this.db.transaction(() => {
        for (const row of rows) this.statements.setSourceHash.run(row.sourceHash, sync, row.key);
      })(),
    );
  }

  /** The payloads (JSON text) last confirmed for these keys, for field diffs. */
  confirmedPayloads(sync: string, keys: string[]): Map<string, string> {
    return this.guard(() => new Map(keys.length === 0 ? [] : this.statements.lookupPayloads.all(JSON.stringify(keys), sync)));
  }

  /** Commits records the destination confirmed (and clears their rejections) in one transaction. */
  commitConfirmed(sync: string, runId: number | null, confirmed: Confirmation[]): void {
    return this.guard(() => {
      if (confirmed.length === 0) return;
      const at = now();
      this.db.transaction(() => {
        for (const record of confirmed) {
          this.statements.upsertRecord.run(
            sync,
            record.key,
            record.fingerprint,
            JSON.stringify(record.payload),
            at,
            runId,
            record.rowHash ?? null,
            record.sourceHash ?? null,
          );
          this.statements.deleteRejection.run(sync, record.key);
        }
        this.statements.bumpGeneration.run(sync);
      })();
    });
  }

  /** Records a vendor took as background job `jobId`: pending until the job says completed or failed. */
  recordPending(sync: string, runId: number, jobId: string, records: Confirmation[]): void {
    return this.guard(() => {
      if (records.length === 0) return;
      const at = now();
      const insert = this.db.prepare(
        `insert into pending_records (sync, key, fingerprint, payload, row_hash, source_hash, job_id, run_id, sent_at) values (?, ?, ?, ?, ?, ?, ?, ?, ?)
         on conflict (sync, key, fingerprint) do update set job_id = excluded.job_id, run_id = excluded.run_id, sent_at = excluded.sent_at`,
      );
      this.db.transaction(() => {
        for (const record of records)
          insert.run(sync, record.key, record.fingerprint, JSON.stringify(record.payload), record.rowHash ?? null, record.sourceHash ?? null, jobId, runId, at);
      })();
    });
  }

  /** The background jobs of a sync whose records are still pending, oldest first. */
  pendingJobs(sync: string): string[] {
    return this.guard(() =>
      (
        this.db.prepare('select job_id from pending_records where sync = ? group by job_id order by min(sent_at), job_id').all(sync) as { job_id: string }[]
      ).map((row) => row.job_id),
    );
  }

  /** Pending records of a sync: key → fingerprints waiting on a job (such a version is never sent twice). */
  pendingVersions(sync: string): Map<string, Set<string>> {
    return this.guard(() => {
      const versions = new Map<string, Set<string>>();
      for (const row of this.db.prepare('select key, fingerprint from pending_records where sync = ?').all(sync) as { key: string; fingerprint: string }[]) {
        let set = versions.get(row.key);
        if (!set) versions.set(row.key, (set = new Set()));
        set.add(row.fingerprint);
      }
      return versions;
    });
  }

  /**
   * Settles a background job: completed commits its records as confirmed (in one transaction with
   * their removal from pending); failed records each as failed (due again). Returns the records' keys.
   */
  settleJob(sync: string, runId: number, jobId: string, result: JobResult): string[] {
    return this.guard(() =>
      this.db.transaction(() => {
        const rows = this.db
          .prepare('select key, fingerprint, payload, row_hash, source_hash from pending_records where sync = ? and job_id = ? order by key')
          .all(sync, jobId) as { key: string; fingerprint: string; payload: string; row_hash: string | null; source_hash: string | null }[];
        this.db.prepare('delete from pending_records where sync = ? and job_id = ?').run(sync, jobId);
        if (result.kind === 'completed') {
          this.commitConfirmed(
            sync,
            runId,
            rows.map((row) => ({
              key: row.key,
              fingerprint: row.fingerprint,
              payload: JSON.parse(row.payload) as unknown,
              rowHash: row.row_hash ?? undefined,
              sourceHash: row.source_hash ?? undefined,
            })),
          );
        } else {
          this.recordIssues(
            sync,
            runId,
            rows.map((row) => ({ key: row.key, fingerprint: row.fingerprint, status: null, reason: result.reason, class: 'failed' as const })),
          );
        }
        return rows.map((row) => row.key);
      })(),
    );
  }

  /** Records rejections (sent, refused: retried next run) and per-run issues (rejected, invalid, failed). */
  recordIssues(sync: string, runId: number, issues: NewRunIssue[]): void {
    return this.guard(() => {
      if (issues.length === 0) return;
      const at = now();
      this.db.transaction(() => {
        for (const issue of issues) {
          // A vendor may echo a credential in its message: it is redacted before it is stored.
          const reason = redact(issue.reason);
          if (issue.class !== 'invalid') {
            this.statements.upsertRejection.run({ sync, key: issue.key, fingerprint: issue.fingerprint, status: issue.status, reason, at, run: runId });
          }
          this.statements.insertIssue.run(runId, issue.key, issue.class, issue.status, reason);
        }
        this.statements.bumpGeneration.run(sync);
      })();
    });
  }

  /**
   * Records that the confirmed payloads of these keys also come from these source rows (read again
   * with other values, or before row hashes were kept, and found unchanged): next time they are
   * recognised from the row alone.
   */
  setRowHashes(sync: string, rows: { key: string; rowHash: string }[]): void {
    if (rows.length === 0) return;
    this.guard(() =>
      this.db.transaction(() => {
        for (const row of rows) this.statements.setRowHash.run(row.rowHash, sync, row.key);
      })(),
    );
  }

  // --- the per-run table of keys read (duplicates, removed records, cursor) --------------------

  /** A fresh table of this run's reads, on this connection (temp tables never touch the state file). */
  readsForRun(): RunReads {
    return new SqliteRunReads(this.db, (work) => this.guard(work));
  }

  // --- cursors, generations ------------------------------------------------------------------

  getCursor(sync: string): unknown {
    const row = this.db.prepare('select value from cursors where sync = ?').get(sync) as { value: string } | undefined;
    return row ? JSON.parse(row.value) : null;
  }

  setCursor(sync: string, value: unknown): void {
    return this.guard(() => {
      this.db
        .prepare(
          'insert into cursors (sync, value, updated_at) values (?, ?, ?) on conflict (sync) do update set value = excluded.value, updated_at = excluded.updated_at',
        )
        .run(sync, JSON.stringify(value), now());
    });
  }

  generation(sync: string): number {
    const row = this.db.prepare('select generation from generations where sync = ?').get(sync) as { generation: number } | undefined;
    return row?.generation ?? 0;
  }

  /** The hash of the mapping the sync's last complete run used, or null (never run, or before schema 5). */
  mappingHash(sync: string): string | null {
    const row = this.db.prepare('select hash from mappings where sync = ?').get(sync) as { hash: string } | undefined;
    return row?.hash ?? null;
  }

  setMappingHash(sync: string, hash: string): void {
    return this.guard(() => {
      this.db
        .prepare(
          'insert into mappings (sync, hash, updated_at) values (?, ?, ?) on conflict (sync) do update set hash = excluded.hash, updated_at = excluded.updated_at',
        )
        .run(sync, hash, now());
    });
  }

  // --- runs -------------------------------------------------------------------------------------

  startRun(sync: string, full: boolean): number {
    return this.guard(() => {
      return Number(
        this.db.prepare('insert into runs (sync, started_at, full, pid) values (?, ?, ?, ?)').run(sync, now(), full ? 1 : 0, process.pid).lastInsertRowid,
      );
    });
  }

  finishRun(id: number, outcome: RunOutcome, counts: Record<string, number>, error?: string): void {
    return this.guard(() => {
      this.db
        .prepare('update runs set ended_at = ?, outcome = ?, counts = ?, error = ? where id = ?')
        .run(now(), outcome, JSON.stringify(counts), error === undefined ? null : redact(error), id);
    });
  }

  /**
   * A running run's counts so far, for `backflow status` in another process. Best effort: a busy or
   * failing state file skips this write (the run's own commits report their failures).
   */
  recordLiveCounts(id: number, counts: Record<string, number>): void {
    try {
      this.db.prepare("update runs set counts = ? where id = ? and outcome = 'running'").run(JSON.stringify(counts), id);
    } catch {
      // Skipped: the next tick, or the run's end, writes them.
    }
  }

  lastRuns(): RunRecord[] {
    return (this.db.prepare('select * from runs where id in (select max(id) from runs group by sync) order by sync').all() as RunRow[]).map(toRunRecord);
  }

  /** A page of a sync's (or every sync's) runs, newest first. */
  runs(sync: string | undefined, limit: number, offset = 0): RunRecord[] {
    return (
      (sync
        ? this.db.prepare('select * from runs where sync = ? order by id desc limit ? offset ?').all(sync, limit, offset)
        : this.db.prepare('select * from runs order by id desc limit ? offset ?').all(limit, offset)) as RunRow[]
    ).map(toRunRecord);
  }

  run(id: number): RunRecord | undefined {
    const row = this.db.prepare('select * from runs where id = ?').get(id) as RunRow | undefined;
    return row && toRunRecord(row);
  }

  runCount(sync: string | undefined): number {
    const row = (
      sync ? this.db.prepare('select count(*) as n from runs where sync = ?').get(sync) : this.db.prepare('select count(*) as n from runs').get()
    ) as {
      n: number;
    };
    return row.n;
  }

  /** A page of a run's issues, in the order they were recorded. */
  runIssues(runId: number, limit: number, offset = 0): RunIssue[] {
    // The columns are the fields: a row is already the domain object.
    return this.db
      .prepare('select key, class, status, reason from run_issues where run_id = ? order by rowid limit ? offset ?')
      .all(runId, limit, offset) as RunIssue[];
  }

  runIssueCount(runId: number): number {
    return (this.db.prepare('select count(*) as n from run_issues where run_id = ?').get(runId) as { n: number }).n;
  }

  rejections(sync: string | undefined, limit: number): RejectionRecord[] {
    return (
      (sync
        ? this.db.prepare('select * from rejections where sync = ? order by last_at desc, key limit ?').all(sync, limit)
        : this.db.prepare('select * from rejections order by sync, last_at desc, key limit ?').all(limit)) as RejectionRow[]
    ).map(toRejectionRecord);
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
    return this.guard(() => (this.db.prepare('select count(*) as n from records where sync = ?').get(sync) as { n: number }).n);
  }

  /**
   * Forgets a sync's records, rejections and cursor, so the next run sends everything; the reset is
   * recorded in the run history (outcome `reset`, counts `{ forgotten }`) in the same transaction.
   */
  reset(sync: string): { records: number; runId: number } {
    return this.guard(() => {
      return this.db.transaction(() => {
        const records = this.db.prepare('delete from records where sync = ?').run(sync).changes;
        this.db.prepare('delete from rejections where sync = ?').run(sync);
        this.db.prepare('delete from pending_records where sync = ?').run(sync);
        this.db.prepare('delete from cursors where sync = ?').run(sync);
        this.db.prepare('delete from mappings where sync = ?').run(sync);
        this.statements.bumpGeneration.run(sync);
        const at = now();
        const runId = Number(
          this.db
            .prepare("insert into runs (sync, started_at, ended_at, outcome, counts, pid) values (?, ?, ?, 'reset', ?, ?)")
            .run(sync, at, at, JSON.stringify({ forgotten: records }), process.pid).lastInsertRowid,
        );
        return { records, runId };
      })();
    });
  }

  // --- locks ------------------------------------------------------------------------------------

  /** The heartbeat timer of each lock this connection holds, by sync. */
  private readonly heldLocks = new Map<string, { token: string; timer: NodeJS.Timeout }>();

  private lockHolder(sync: string): LockHolder | undefined {
    return this.db.prepare('select pid, host, acquired_at, heartbeat_at from locks where sync = ?').get(sync) as LockHolder | undefined;
  }

  private liveness(holder: LockHolder, expiryMs: number) {
    return holderLiveness(holder, { host: os.hostname(), pid: process.pid, nowMs: Date.now(), expiryMs, isAlive: pidIsAlive });
  }

  /**
   * Runs still `running` once the caller holds the sync's lock were left by a holder that died or
   * lost the lock (a run only runs under it): they are marked interrupted, with why.
   */
  private interruptRuns(sync: string, why: string): void {
    this.db
      .prepare("update runs set outcome = 'interrupted', ended_at = coalesce(ended_at, ?), error = coalesce(error, ?) where sync = ? and outcome = 'running'")
      .run(now(), why, sync);
  }

  /**
   * Takes the sync's lock, or throws naming the holder. A lock whose holder is not alive (its
   * process gone on this host, or its heartbeat expired) is taken over. While held, a timer (which
   * never keeps the process up) refreshes the heartbeat; finding the lock taken calls `onLost`.
   */
  acquireLock(sync: string, options: LockOptions): string {
    const token = randomUUID();
    this.guard(() => {
      this.db
        .transaction(() => {
          const holder = this.lockHolder(sync);
          let why = 'the process ended before the run finished';
          if (holder) {
            const liveness = this.liveness(holder, options.expiryMs);
            if (liveness.alive) {
              throw new SyncLockedError(
                `sync "${sync}" is already running (${describeHolder(holder)}). Wait for it to finish: a holder that stops heartbeating ` +
                  `is taken over ${options.expiryMs / 1000} s after its last heartbeat. If you know that process is gone, run: backflow unlock --sync ${sync}`,
              );
            }
            why = `taken over: ${liveness.why}`;
          }
          const at = now();
          this.db
            .prepare('insert or replace into locks (sync, pid, host, run_id, acquired_at, heartbeat_at, token) values (?, ?, ?, null, ?, ?, ?)')
            .run(sync, process.pid, os.hostname(), at, at, token);
          this.interruptRuns(sync, why);
        })
        .immediate();
    });
    const beat = this.db.prepare('update locks set heartbeat_at = ? where sync = ? and token = ?');
    const timer = setInterval(() => {
      let changes: number;
      try {
        changes = beat.run(now(), sync, token).changes;
      } catch {
        // A busy or full state file: the next beat tries again; one the expiry outlasts loses nothing.
        return;
      }
      if (changes === 0) {
        this.stopHeartbeat(sync);
        const holder = this.lockHolder(sync);
        options.onLost?.(
          holder
            ? `the lock of sync "${sync}" was taken over by ${describeHolder(holder)}`
            : `the lock of sync "${sync}" was removed by backflow unlock --force`,
        );
      }
    }, heartbeatIntervalMs(options.expiryMs));
    timer.unref();
    this.heldLocks.set(sync, { token, timer });
    return token;
  }

  private stopHeartbeat(sync: string): string | undefined {
    const held = this.heldLocks.get(sync);
    if (held) clearInterval(held.timer);
    this.heldLocks.delete(sync);
    return held?.token;
  }

  /** Releases the lock this connection took (never one another process took over since). */
  releaseLock(sync: string): void {
    const token = this.stopHeartbeat(sync);
    return this.guard(() => {
      if (!this.db.open || token === undefined) return;
      this.db.prepare('delete from locks where sync = ? and token = ?').run(sync, token);
    });
  }

  /**
   * Removes the sync's lock if its holder is not alive (or, with `force`, even if it seems to be),
   * and marks its unfinished runs interrupted. Throws naming a live holder.
   */
  unlock(sync: string, options: { expiryMs: number; force: boolean }): UnlockResult {
    return this.guard(() =>
      this.db
        .transaction((): UnlockResult => {
          const holder = this.lockHolder(sync);
          if (!holder) return { removed: false };
          const liveness = this.liveness(holder, options.expiryMs);
          if (liveness.alive && !options.force) {
            throw new SyncLockedError(
              `sync "${sync}" is locked by a live holder (${describeHolder(holder)}), so it was not unlocked. ` +
                `Stop that process, or wait ${options.expiryMs / 1000} s past its last heartbeat; pass --force only if you know it is gone (a live holder then stops at its next heartbeat).`,
            );
          }
          const why = liveness.alive ? `unlocked with --force while ${describeHolder(holder)}` : liveness.why;
          this.db.prepare('delete from locks where sync = ?').run(sync);
          this.interruptRuns(sync, `unlocked: ${why}`);
          return { removed: true, holder, why };
        })
        .immediate(),
    );
  }
}
