// The ledger of one run: what is run-scoped and lives on one state connection. Opening it takes the
// sync's lock and records the run; it owns the run id, the keys read this run, the buffer of commits
// (confirmations, pending records, issues: written together once a burst of answers is in), the
// safe cursor and the unseen keys; `finish` records the outcome and releases the lock. A state
// connection serves one ledger at a time, so a process running several syncs at once (the daemon)
// opens one store per run.
import type { SendableRecord, StateWrites } from '../plan/classify.js';
import { compareCursors } from '../sources/values.js';
import type { Confirmation, JobResult, NewRunIssue, RunOutcome, RunReads, Store } from '../state/contract.js';

/** How often a running run's counts are written to the state for `backflow status`. */
const LIVE_COUNTS_INTERVAL_MS = 1000;

export interface LedgerOptions {
  full: boolean;
  /** A lock whose heartbeat is older than this is taken over. */
  lockExpiryMs: number;
  /** Called once if another process took the lock over, or it was unlocked by force. */
  onLockLost: (why: string) => void;
  /** Called once if a commit failed (disk full, file gone read-only): the run must stop sending. */
  onCommitFailure: () => void;
  /** The run's counts so far, written every second for `backflow status` in another process. */
  liveCounts: () => Record<string, number>;
}

/** What state keeps of a sent record: confirmed at once, or once its background job completes. */
function confirmationOf(record: SendableRecord): Confirmation {
  return { key: record.key, fingerprint: record.fingerprint, payload: record.payload, rowHash: record.rowHash, sourceHash: record.sourceHash };
}

/** Takes the sync's lock (or throws SyncLockedError naming its holder) and records a new run. */
export function beginRun(store: Store, sync: string, options: LedgerOptions): RunLedger {
  const lockToken = store.acquireLock(sync, { expiryMs: options.lockExpiryMs, onLost: options.onLockLost });
  try {
    return new RunLedger(store, sync, store.startRun(sync, options.full), lockToken, options);
  } catch (error) {
    store.releaseLock(sync);
    throw error;
  }
}

export class RunLedger {
  /** The keys this run read, settled or waiting for a confirmation. */
  readonly reads: RunReads;
  private confirmations: Confirmation[] = [];
  private pending = new Map<string, Confirmation[]>();
  private issues: NewRunIssue[] = [];
  private confirmedKeys: string[] = [];
  private scheduled = false;
  private finished = false;
  private readonly liveCounts: NodeJS.Timeout;
  /** The first commit that failed: what followed is its consequence. */
  failure?: Error;

  constructor(
    private readonly store: Store,
    readonly sync: string,
    readonly id: number,
    /** The token of the sync's lock this run holds (the fence of its sends in a fleet). */
    readonly lockToken: string,
    private readonly options: LedgerOptions,
  ) {
    this.reads = store.readsForRun();
    this.liveCounts = setInterval(() => store.recordLiveCounts(id, options.liveCounts()), LIVE_COUNTS_INTERVAL_MS);
    this.liveCounts.unref();
  }

  confirmed(record: SendableRecord): void {
    this.confirmations.push(confirmationOf(record));
    this.confirmedKeys.push(record.key);
    this.schedule();
  }

  /** A record the vendor took as background job `jobId`: kept pending, not confirmed. */
  pendingOn(jobId: string, record: SendableRecord): void {
    const records = this.pending.get(jobId) ?? [];
    records.push(confirmationOf(record));
    this.pending.set(jobId, records);
    this.schedule();
  }

  issue(issue: NewRunIssue): void {
    this.issues.push(issue);
    this.schedule();
  }

  /** Applies what classification found worth writing (unchanged records' new row or source hashes). */
  apply(writes: StateWrites): void {
    this.store.setRowHashes(this.sync, writes.rowHashes);
    this.store.setSourceHashes(this.sync, writes.sourceHashes);
  }

  /** Settles a background job: its records committed, or failed (due again). Returns their keys. */
  settleJob(jobId: string, result: JobResult): string[] {
    this.flush();
    const keys = this.store.settleJob(this.sync, this.id, jobId, result);
    // Read this run and confirmed now: they no longer hold the cursor back.
    if (result.kind === 'completed') this.reads.markSettled(keys);
    return keys;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  /**
   * Commits what is buffered. Never throws (it runs from setImmediate): a failure is kept, the run
   * told to stop, and the uncommitted confirmations are simply sent again next run.
   */
  flush(): void {
    this.scheduled = false;
    const { confirmations, confirmedKeys, issues, pending } = this;
    this.pending = new Map();
    this.confirmations = [];
    this.confirmedKeys = [];
    this.issues = [];
    if (this.failure) return;
    try {
      this.store.commitConfirmed(this.sync, this.id, confirmations);
      this.reads.markSettled(confirmedKeys);
      this.store.recordIssues(this.sync, this.id, issues);
      for (const [jobId, records] of pending) this.store.recordPending(this.sync, this.id, jobId, records);
    } catch (error) {
      this.failure = error as Error;
      this.options.onCommitFailure();
    }
  }

  /** Every record read was compared under this mapping: plan stops saying it changed. */
  completedWith(mappingHash: string): void {
    this.store.setMappingHash(this.sync, mappingHash);
  }

  /** Moves the sync's cursor to the largest value below every row not yet confirmed, if it moved on. */
  advanceCursor(previous: unknown): void {
    const next = this.reads.safeCursor();
    if (next !== null && (previous === null || compareCursors(next, previous) > 0)) this.store.setCursor(this.sync, next);
  }

  /** Records the run's outcome and releases the lock (once; a second call does nothing). */
  finish(outcome: RunOutcome, counts: Record<string, number>, error?: string): void {
    if (this.finished) return;
    this.finished = true;
    clearInterval(this.liveCounts);
    this.store.finishRun(this.id, outcome, counts, error);
    this.store.releaseLock(this.sync);
  }
}
