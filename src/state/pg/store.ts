// The state in a PostgreSQL schema, shared by every Backflow process pointed at it (a fleet): the
// second implementation of the store contract (src/state/contract.ts). Each call runs on the
// state's thread (src/state/pg/worker.ts) over this store's own connection.
import type { RejectionRecord, RunIssue, RunOutcome, RunRecord, StandingRejection } from '../history.js';
import type { Confirmation, JobResult, KeyRead, LockOptions, NewRunIssue, RunReads, Store, StoredRecord, UnlockResult } from '../contract.js';
import { redact } from '../../redact.js';
import { stateThread } from './bridge.js';
import { describePgLocation, type PgLocation } from './connection.js';

export class PgStateStore implements Store {
  readonly file: string;
  private readonly lockLost = new Map<string, (why: string) => void>();
  private closed = false;

  private constructor(
    private readonly session: number,
    location: PgLocation,
  ) {
    this.file = describePgLocation(location);
    stateThread().onLockLost(session, (sync, why) => this.lockLost.get(sync)?.(why));
  }

  /** Connects, creating and migrating the schema (never, with `readonly`: an absent state reads as empty). */
  static open(location: PgLocation, options: { readonly?: boolean } = {}): PgStateStore {
    const session = stateThread().call(0, 'open', [{ ...location, readonly: options.readonly ?? false }]) as number;
    return new PgStateStore(session, location);
  }

  private call<T>(op: string, ...args: unknown[]): T {
    return stateThread().call(this.session, op, args) as T;
  }

  // --- KnownRecords
  recordCount = (sync: string) => this.call<number>('recordCount', sync);
  lookup = (sync: string, keys: string[]) => this.call<{ records: Map<string, string>; rejections: Map<string, StandingRejection> }>('lookup', sync, keys);
  rowHashes = (sync: string, keys: string[]) => this.call<Map<string, string | null>>('rowHashes', sync, keys);
  sourceHashes = (sync: string, keys: string[]) => this.call<Map<string, string | null>>('sourceHashes', sync, keys);
  confirmedPayloads = (sync: string, keys: string[]) => this.call<Map<string, string>>('confirmedPayloads', sync, keys);
  pendingJobs = (sync: string) => this.call<string[]>('pendingJobs', sync);
  pendingVersions = (sync: string) => this.call<Map<string, Set<string>>>('pendingVersions', sync);
  getCursor = (sync: string) => this.call<unknown>('getCursor', sync);
  generation = (sync: string) => this.call<number>('generation', sync);
  mappingHash = (sync: string) => this.call<string | null>('mappingHash', sync);

  // --- RecordWrites
  commitConfirmed = (sync: string, runId: number | null, confirmed: Confirmation[]) => this.call<void>('commitConfirmed', sync, runId, confirmed);
  recordPending = (sync: string, runId: number, jobId: string, records: Confirmation[]) => this.call<void>('recordPending', sync, runId, jobId, records);
  settleJob = (sync: string, runId: number, jobId: string, result: JobResult) => this.call<string[]>('settleJob', sync, runId, jobId, result);
  // Secrets are known to this thread only (registerSecrets), so text is redacted here, before it leaves.
  recordIssues = (sync: string, runId: number, issues: NewRunIssue[]) =>
    this.call<void>(
      'recordIssues',
      sync,
      runId,
      issues.map((issue) => ({ ...issue, reason: redact(issue.reason) })),
    );
  setRowHashes = (sync: string, rows: { key: string; rowHash: string }[]) => this.call<void>('setRowHashes', sync, rows);
  setSourceHashes = (sync: string, rows: { key: string; sourceHash: string }[]) => this.call<void>('setSourceHashes', sync, rows);
  setCursor = (sync: string, value: unknown) => this.call<void>('setCursor', sync, value);
  setMappingHash = (sync: string, hash: string) => this.call<void>('setMappingHash', sync, hash);
  reset = (sync: string) => this.call<{ records: number; runId: number }>('reset', sync);

  // --- RunHistory
  startRun = (sync: string, full: boolean) => this.call<number>('startRun', sync, full);
  finishRun = (id: number, outcome: RunOutcome, counts: Record<string, number>, error?: string) =>
    this.call<void>('finishRun', id, outcome, counts, error === undefined ? undefined : redact(error));
  recordLiveCounts = (id: number, counts: Record<string, number>) => this.call<void>('recordLiveCounts', id, counts);
  lastRuns = () => this.call<RunRecord[]>('lastRuns');
  runs = (sync: string | undefined, limit: number, offset = 0) => this.call<RunRecord[]>('runs', sync, limit, offset);
  run = (id: number) => this.call<RunRecord | undefined>('run', id);
  runCount = (sync: string | undefined) => this.call<number>('runCount', sync);
  runIssues = (runId: number, limit: number, offset = 0) => this.call<RunIssue[]>('runIssues', runId, limit, offset);
  runIssueCount = (runId: number) => this.call<number>('runIssueCount', runId);
  rejections = (sync: string | undefined, limit: number) => this.call<RejectionRecord[]>('rejections', sync, limit);
  lastCompletedAt = (sync: string) => this.call<string | null>('lastCompletedAt', sync);

  // --- Coordination
  acquireLock(sync: string, options: LockOptions): string {
    const token = this.call<string>('acquireLock', sync, options.expiryMs);
    if (options.onLost) this.lockLost.set(sync, options.onLost);
    return token;
  }

  releaseLock(sync: string): void {
    this.lockLost.delete(sync);
    if (!this.closed) this.call('releaseLock', sync);
  }

  unlock = (sync: string, options: { expiryMs: number; force: boolean }) => this.call<UnlockResult>('unlock', sync, options.expiryMs, options.force);

  readsForRun(): RunReads {
    this.call('newReads');
    return {
      noteReads: (reads: KeyRead[], settled: boolean) => this.call<string[]>('noteReads', reads, settled),
      markSettled: (keys: string[]) => this.call<void>('markSettled', keys),
      safeCursor: () => this.call<unknown>('safeCursor'),
      unseenKeys: (sync: string, after: string, limit: number) => this.call<StoredRecord[]>('unseenKeys', sync, after, limit),
    };
  }

  check = () => this.call<void>('check');

  close(): void {
    if (this.closed) return;
    this.closed = true;
    stateThread().onLockLost(this.session, undefined);
    this.call('close');
  }
}
