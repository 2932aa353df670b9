// The state contract: what the engine asks of a state store, in four parts (what is known of each
// record, the writes that change it, the run history, the coordination between processes), plus the
// scratch of one run (the keys it read). SQLite (src/state/store.ts) is the first implementation; the
// engine imports only this file, so another (PostgreSQL, for a fleet) can be added beside it. The
// shared contract suite (test/state/contract.test.ts) runs against every implementation.
import type { RejectionRecord, RunIssue, RunOutcome, RunRecord, StandingRejection } from './history.js';
import type { LockHolder } from './locks.js';

// The domain objects of the history (camelCase, what `status`, `runs` and `rejected` print) are the contract's too.
export type { RejectionRecord, RunIssue, RunOutcome, RunRecord, RunRowOutcome, StandingRejection } from './history.js';

/** What was last confirmed for a record: its key and the fingerprint of the payload sent. */
export interface StoredRecord {
  key: string;
  fingerprint: string;
}

export interface Confirmation {
  key: string;
  fingerprint: string;
  payload: unknown;
  /** Hash of the source row the payload was mapped from (absent when sent from a saved plan). */
  rowHash?: string;
  /** The database's hash over the row's mapped columns (pushdown reads only, see src/engine/pushdown.ts). */
  sourceHash?: string;
}

/** A key read by this run, with its cursor value (incremental syncs). */
export interface KeyRead {
  key: string;
  cursor?: unknown;
}

export interface Rejection {
  key: string;
  fingerprint: string;
  status: number | null;
  reason: string;
}

/** A record a run could not deliver or build: refused (rejected), failed after every retry, or invalid. */
export type NewRunIssue = Rejection & { class: 'rejected' | 'failed' | 'invalid' };

export interface LockOptions {
  /** A lock whose heartbeat is older than this is taken over. */
  expiryMs: number;
  /** Called once if another process took the lock over (this one's heartbeat was too late) or unlocked it. */
  onLost?: (why: string) => void;
}

export type UnlockResult = { removed: false } | { removed: true; holder: LockHolder; why: string };

export type JobResult = { kind: 'completed' } | { kind: 'failed'; reason: string };

/** What is known of each sync's records. Reads only: `plan` and the classifier get nothing more. */
export interface KnownRecords {
  recordCount(sync: string): number;
  /** For these keys: the fingerprint last confirmed and the standing rejection (no payloads). */
  lookup(sync: string, keys: string[]): { records: Map<string, string>; rejections: Map<string, StandingRejection> };
  /** For these keys, the hash of the source row their confirmed payload came from (null: not kept). */
  rowHashes(sync: string, keys: string[]): Map<string, string | null>;
  /** For these keys, the database's hash of the row their confirmed payload came from (null: not kept). */
  sourceHashes(sync: string, keys: string[]): Map<string, string | null>;
  /** The payloads (JSON text) last confirmed for these keys, for field diffs. */
  confirmedPayloads(sync: string, keys: string[]): Map<string, string>;
  /** Background jobs whose records are still pending, oldest first. */
  pendingJobs(sync: string): string[];
  /** Pending records: key → fingerprints waiting on a job (such a version is never sent twice). */
  pendingVersions(sync: string): Map<string, Set<string>>;
  getCursor(sync: string): unknown;
  /** Moves on every commit: a saved plan made at another generation is refused. */
  generation(sync: string): number;
  /** The hash of the mapping the sync's last complete run used, or null. */
  mappingHash(sync: string): string | null;
}

/** The writes that change what is known. Each is one transaction. */
export interface RecordWrites {
  /** Records the destination confirmed, with their rejections cleared. */
  commitConfirmed(sync: string, runId: number | null, confirmed: Confirmation[]): void;
  /** Records a vendor took as background job `jobId`: pending until it completes or fails. */
  recordPending(sync: string, runId: number, jobId: string, records: Confirmation[]): void;
  /** Completed commits the job's records; failed records each as a failed issue. Returns their keys. */
  settleJob(sync: string, runId: number, jobId: string, result: JobResult): string[];
  /** Rejections (retried next run) and per-run issues. */
  recordIssues(sync: string, runId: number, issues: NewRunIssue[]): void;
  setRowHashes(sync: string, rows: { key: string; rowHash: string }[]): void;
  setSourceHashes(sync: string, rows: { key: string; sourceHash: string }[]): void;
  setCursor(sync: string, value: unknown): void;
  setMappingHash(sync: string, hash: string): void;
  /** Forgets the sync's records, rejections, pending records and cursor; recorded as a `reset` run. */
  reset(sync: string): { records: number; runId: number };
}

/** Runs, their issues and the standing rejections. */
export interface RunHistory {
  startRun(sync: string, full: boolean): number;
  finishRun(id: number, outcome: RunOutcome, counts: Record<string, number>, error?: string): void;
  /** A running run's counts so far, for `status` in another process; best effort, never throws. */
  recordLiveCounts(id: number, counts: Record<string, number>): void;
  lastRuns(): RunRecord[];
  runs(sync: string | undefined, limit: number, offset?: number): RunRecord[];
  run(id: number): RunRecord | undefined;
  runCount(sync: string | undefined): number;
  runIssues(runId: number, limit: number, offset?: number): RunIssue[];
  runIssueCount(runId: number): number;
  rejections(sync: string | undefined, limit: number): RejectionRecord[];
  /** When the sync last completed a run (success or partial), or null. */
  lastCompletedAt(sync: string): string | null;
}

/** One sync runs in one place at a time. */
export interface Coordination {
  /**
   * Takes the sync's lock (heartbeating while held), or throws SyncLockedError naming the holder.
   * Returns the lock's token: in a fleet, the shared rate budget refuses a turn to a run whose token
   * is no longer the lock's (its sync was taken over).
   */
  acquireLock(sync: string, options: LockOptions): string;
  /** Releases the lock this store took (never one taken over since). */
  releaseLock(sync: string): void;
  /** Removes a lock whose holder is gone (or any, with force); throws naming a live holder. */
  unlock(sync: string, options: { expiryMs: number; force: boolean }): UnlockResult;
}

/**
 * The keys one run (or plan) read, settled or still waiting for a confirmation. Kept outside the
 * process's memory, since a run may read tens of millions of keys; it never changes what is known.
 */
export interface RunReads {
  /** Notes keys read, `settled` or not; returns those noted earlier in this run (they keep their first entry). */
  noteReads(reads: KeyRead[], settled: boolean): string[];
  /** These keys need nothing more (confirmed, unchanged or invalid). */
  markSettled(keys: string[]): void;
  /** The largest cursor value below every unsettled read; null when none qualifies. */
  safeCursor(): unknown;
  /** Keys confirmed earlier that this run did not read, in key order after `after`. */
  unseenKeys(sync: string, after: string, limit: number): StoredRecord[];
}

export interface Store extends KnownRecords, RecordWrites, RunHistory, Coordination {
  /** Where the state is, for messages (a file, or a database URL without its password). */
  readonly file: string;
  /** Something about the state worth telling the user (e.g. an unmigrated file read through a copy). */
  readonly note?: string;
  /** A fresh scratch of keys read, for one run or plan at a time. */
  readsForRun(): RunReads;
  /** Throws when the state cannot be read (the daemon's /readyz). */
  check(): void;
  close(): void;
}
