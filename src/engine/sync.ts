// `sync`: send what changed, commit each confirmation, record the run, and move the cursor only past
// rows that were all confirmed.
import type { SyncConfig } from '../config/schema.js';
import { setImmediate as nextTurnOfTheLoop, setTimeout as sleep } from 'node:timers/promises';
import { BatchGrouper, batchItem } from '../delivery/batches.js';
import type { BatchEntry, SendResult } from '../delivery/destination.js';
import { isSendable, type PlannedRecord, type SendableRecord } from '../plan/classify.js';
import type { SendContext } from '../../connectors/contract.js';
import { LockLostError } from '../fleet/lock-lost.js';
import type { RunOutcome } from '../state/contract.js';
import { ReasonGroups, type ReasonGroup } from '../plan/reasons.js';
import { beginRun, type RunLedger } from './ledger.js';
import { classifiedReads, classifierFor, emptyCounts, mappingHash, readsEverything } from './plan.js';
import type { Workspace } from './workspace.js';

export interface RunCounts {
  added: number;
  changed: number;
  unchanged: number;
  removed: number;
  invalid: number;
  retry: number;
  /** Confirmed by the destination. */
  sent: number;
  /** Refused by the destination (4xx): recorded, due again next run. */
  rejected: number;
  /** Still failing after every retry, or unconfirmed: due again next run. */
  failed: number;
  /**
   * Taken by the vendor as a background job still running when the run ended: settled by a later
   * run. Only for a destination with background jobs.
   */
  pending?: number;
  /** Read from the source. */
  read: number;
}

export interface RunSummary {
  runId: number;
  sync: string;
  outcome: RunOutcome;
  counts: RunCounts;
  durationMs: number;
  /** Why the run stopped or failed. */
  error?: string;
  /** A few rejections, for the summary (all are in `backflow rejected`). */
  rejections: { key: string; reason: string }[];
  /** A few invalid records (never sent), for the summary (all are in `backflow runs`). */
  invalid: { key: string; reason: string }[];
  /** Rejected and failed records grouped by reason, most frequent first, with a few example keys (absent when no run read records: a crash report). */
  rejectionReasons?: ReasonGroup[];
  /** Invalid records grouped by reason, most frequent first, with a few example keys (absent as above). */
  invalidReasons?: ReasonGroup[];
}

export interface SyncOptions {
  full?: boolean;
  /** Send these planned records instead of reading the source (a saved plan). */
  planned?: AsyncIterable<SendableRecord[]>;
  /** Stops feeding new records; in-flight requests finish and are committed. */
  signal?: AbortSignal;
  /** Called once the run is recorded (the lock is held), with its ledger and its live counts. */
  onStart?: (ledger: RunLedger, counts: Readonly<RunCounts>) => void;
  onProgress?: (counts: RunCounts) => void;
  /** Called once if another process took the sync's lock over, or it was unlocked by force: the run stops feeding. */
  onLockLost?: (why: string) => void;
}

/**
 * Records failed in a row (each after every retry) that mean the destination is down, not that a
 * few records are unlucky: the run stops instead of spending the backoff of every remaining record.
 */
export function failuresInARowToStop(concurrency: number): number {
  return Math.max(10, concurrency);
}

/** Pause between rounds of reading a run's background jobs (each read also waits its rate-limit turn). */
const JOB_POLL_INTERVAL_MS = 1000;

/**
 * The longest the engine works through read records without letting the event loop run (ms).
 * Classifying pages and building a batch of 10,000 records is synchronous work that can take
 * hundreds of milliseconds on a loaded machine; meanwhile a request already handed to the
 * destination cannot connect or write, and the rate limiter's timers cannot fire. The limiter keeps
 * the vendor's limit either way (it spaces requests from their departure), but a request held back
 * costs throughput.
 */
const SLICE_MS = 10;

export async function runSync(workspace: Workspace, sync: SyncConfig, options: SyncOptions = {}): Promise<RunSummary> {
  const { state } = workspace;
  const startedAt = Date.now();
  // Set when another process took the lock over (this one's heartbeat came too late) or it was
  // unlocked by force: the run stops feeding and leaves the cursor to the new holder.
  let lockLost: string | undefined;
  // Aborted when the run must stop feeding (a stop outcome, the caller's signal, a lost lock), so
  // records still queued behind the destination's gate are never sent.
  const halt = new AbortController();
  const counts: RunCounts = { ...emptyCounts(), sent: 0, rejected: 0, failed: 0, read: 0 };
  const ledger = beginRun(state, sync.name, {
    full: Boolean(options.full),
    lockExpiryMs: workspace.config.state.lockExpirySeconds * 1000,
    onLockLost: (why) => {
      lockLost ??= why;
      halt.abort();
      options.onLockLost?.(why);
    },
    onCommitFailure: () => halt.abort(),
    // `backflow status` (another process) shows a running run's counts until the run is recorded.
    liveCounts: () => ({ ...counts }),
  });
  options.onStart?.(ledger, counts);
  const rejections: RunSummary['rejections'] = [];
  const invalid: RunSummary['invalid'] = [];
  const rejectionReasons = new ReasonGroups();
  const invalidReasons = new ReasonGroups();
  const destination = workspace.destination(sync);
  let stopReason: string | undefined;
  // Set when the destination failed too many records in a row: it is down, the run ends early.
  let downReason: string | undefined;
  let failedInARow = 0;
  const failuresToStop = failuresInARowToStop(destination.concurrency);
  // An unexpected error while sending (a bug, not an HTTP answer): the run ends as failed.
  let crash: Error | undefined;
  let outcome: RunOutcome = 'success';
  let error: string | undefined;

  const inFlight = new Set<Promise<void>>();
  // Bound memory: at most two requests' worth per slot are queued behind the gate.
  const maxQueued = destination.concurrency * 2;
  const stopped = () => halt.signal.aborted;
  options.signal?.addEventListener('abort', () => halt.abort(), { once: true });
  if (options.signal?.aborted) halt.abort();

  // Settles one record on its own: committed once confirmed, recorded as an issue otherwise.
  const settle = (record: SendableRecord, result: SendResult) => {
    switch (result.kind) {
      case 'sent':
        counts.sent++;
        ledger.confirmed(record);
        break;
      case 'skipped':
        return;
      case 'pending':
        ledger.pendingOn(result.jobId, record);
        break;
      case 'stop':
      case 'rejected':
      case 'failed': {
        if (result.kind === 'stop') {
          stopReason ??= result.reason;
          halt.abort();
        }
        // A stopped record was not accepted either: it counts as failed.
        const kind = result.kind === 'rejected' ? 'rejected' : 'failed';
        counts[kind]++;
        if (rejections.length < 10) rejections.push({ key: record.key, reason: result.reason });
        rejectionReasons.add(result.reason, record.key, result.reason);
        ledger.issue({ key: record.key, fingerprint: record.fingerprint, status: result.status, reason: result.reason, class: kind });
        break;
      }
    }
  };

  // One request's records settled, then counted as one request: a destination whose requests keep
  // failing after every retry is down, whether each carries one record or a batch.
  const settleRequest = (records: SendableRecord[], results: SendResult[]) => {
    records.forEach((record, index) => settle(record, results[index]));
    const answered = results.filter((result) => result.kind !== 'skipped');
    if (answered.length === 0) return;
    const failed = answered.every((result) => result.kind === 'failed');
    // A background job answered for the batch: its records are pending until the job says more.
    if (answered.some((result) => result.kind === 'pending')) jobsAnswered = true;
    failedInARow = failed ? failedInARow + 1 : 0;
    if (failed && failedInARow === failuresToStop && !stopReason) {
      const last = answered.at(-1) as { reason: string };
      const what = destination.batching ? 'batch requests' : 'records';
      downReason = `destination "${destination.name}" failed ${failuresToStop} ${what} in a row after every retry (last: ${last.reason})`;
      halt.abort();
    }
    options.onProgress?.(counts);
  };

  const contextOf = (record: SendableRecord): SendContext => ({
    sync: sync.name,
    key: record.key,
    fingerprint: record.fingerprint,
    changedAt: record.changedAt,
    fence: { sync: sync.name, token: ledger.lockToken },
  });

  // Starts one request (one record, or one batch) once fewer than maxQueued are on their way. Its
  // answer is settled in the very next step after the gate is left, so a `stop` aborts the run before
  // a record waiting for that slot can go out.
  const dispatch = async (send: () => Promise<void>) => {
    while (inFlight.size >= maxQueued) await Promise.race(inFlight);
    if (stopped() || crash) return;
    const task = send()
      .catch((error: unknown) => {
        // The fleet's budget refused the turn: another member took the sync over; stop as on a lost lock.
        if (error instanceof LockLostError) {
          lockLost ??= error.message;
          halt.abort();
        } else crash ??= error as Error;
      })
      .finally(() => inFlight.delete(task));
    inFlight.add(task);
  };

  const batching = destination.batching;
  const grouper = batching ? new BatchGrouper<{ record: SendableRecord; entry: BatchEntry }>(batching) : undefined;
  const sendGroup = async (group: { record: SendableRecord; entry: BatchEntry }[]) => {
    if (group.length === 0) return;
    const records = group.map((member) => member.record);
    await dispatch(() =>
      destination
        .sendBatch(
          group.map((member) => member.entry),
          halt.signal,
        )
        .then((results) => settleRequest(records, results)),
    );
  };

  // Versions already in a vendor's background job (from an earlier run): never sent twice.
  const jobs = batching?.shape.job !== undefined;
  let jobsAnswered = false;
  const inJob = jobs ? state.pendingVersions(sync.name) : new Map<string, Set<string>>();

  /**
   * Reads the sync's background jobs, oldest first, until none is left or `waitMs` has passed (0: one
   * round): a completed job commits its records, a failed one leaves them all due (failed).
   */
  const settleJobs = async (waitMs: number) => {
    const until = Date.now() + waitMs;
    for (;;) {
      ledger.flush();
      const open = state.pendingJobs(sync.name);
      for (const jobId of open) {
        if (stopped()) return;
        const job = await destination.pollJob(jobId, { sync: sync.name, key: `job ${jobId}`, fingerprint: '', changedAt: '' });
        if (job.kind === 'stop') {
          stopReason ??= job.reason;
          halt.abort();
          return;
        }
        if (job.kind !== 'completed' && job.kind !== 'failed') continue;
        const reason = job.kind === 'failed' ? `background job ${jobId} failed: ${job.reason}` : '';
        const keys = ledger.settleJob(jobId, job.kind === 'completed' ? job : { kind: 'failed', reason });
        if (job.kind === 'completed') counts.sent += keys.length;
        else {
          counts.failed += keys.length;
          for (const key of keys.slice(0, Math.max(0, 10 - rejections.length))) rejections.push({ key, reason });
          for (const key of keys) rejectionReasons.add(reason, key, reason);
        }
        options.onProgress?.(counts);
      }
      if (state.pendingJobs(sync.name).length === 0 || Date.now() >= until || stopped()) return;
      await sleep(JOB_POLL_INTERVAL_MS, undefined, { signal: halt.signal }).catch(() => undefined);
    }
  };

  const deliver = async (record: SendableRecord) => {
    const context = contextOf(record);
    if (inJob.get(record.key)?.has(record.fingerprint)) return;
    if (!batching || !grouper) {
      await dispatch(() => destination.send(record.payload, context, halt.signal).then((result) => settleRequest([record], [result])));
      return;
    }
    const { item, bytes } = batchItem(batching, record.payload, context);
    for (const group of grouper.add({ record, entry: { item, context } }, bytes)) await sendGroup(group);
  };

  // The end of input: the last, partial batch goes out (unless the run is stopping).
  const flushBatch = async () => {
    if (grouper && !stopped() && !crash) await sendGroup(grouper.end());
  };

  let sliceStartedAt = Date.now();
  const handle = async (records: PlannedRecord[]) => {
    for (const record of records) {
      if (Date.now() - sliceStartedAt >= SLICE_MS) {
        await nextTurnOfTheLoop();
        sliceStartedAt = Date.now();
        // An answer settled meanwhile may have stopped the run.
        if (stopped() || crash) return false;
      }
      counts[record.class]++;
      if (record.class === 'invalid') {
        if (invalid.length < 10) invalid.push({ key: record.key, reason: record.reason });
        invalidReasons.add(record.reasonGroup, record.key, record.reason);
        ledger.issue({ key: record.key, fingerprint: '', status: null, reason: record.reason, class: 'invalid' });
      }
      if (isSendable(record)) await deliver(record);
      if (stopped() || crash) return false;
    }
    options.onProgress?.(counts);
    return true;
  };

  const cursor = options.full ? null : state.getCursor(sync.name);
  try {
    // Jobs an earlier run left running: what completed since is committed before anything is read.
    if (jobs && inJob.size > 0) {
      await settleJobs(0);
      // Only versions still in a job are held back from sending.
      inJob.clear();
      for (const [key, versions] of state.pendingVersions(sync.name)) inJob.set(key, versions);
    }
    if (options.planned) {
      for await (const batch of options.planned) {
        // Keys only: every planned record waits for its confirmation.
        ledger.reads.noteReads(batch, false);
        // Read from the plan instead of the source: the summary counts them all the same.
        counts.read += batch.length;
        if (!(await handle(batch))) break;
      }
    } else {
      const classifier = classifierFor(workspace, sync, new Date(startedAt).toISOString(), ledger.reads);
      let complete = true;
      for await (const batch of classifiedReads(workspace, sync, classifier, cursor)) {
        counts.read += batch.read;
        ledger.apply(batch.writes);
        if (!(await handle(batch.records))) {
          complete = false;
          break;
        }
      }
      if (complete && readsEverything(sync, cursor)) {
        for (const page of classifier.removed()) counts.removed += page.length;
      }
    }
    await flushBatch();
    await Promise.all(inFlight);
    if (jobs && (jobsAnswered || inJob.size > 0) && !stopped()) await settleJobs(batching.jobWaitMs);
    if (jobs) {
      ledger.flush();
      counts.pending = [...state.pendingVersions(sync.name).values()].reduce((total, versions) => total + versions.size, 0);
    }
    // A batching vendor client holds nothing now (each send waited for its answer); closing it
    // releases its timers and sockets, and would flush anything left before the run is recorded.
    await destination.close();
    ledger.flush();
    if (crash) throw crash;
    if (ledger.failure) throw ledger.failure;

    if (sync.cursor && !lockLost) ledger.advanceCursor(cursor);
    if (stopReason) {
      outcome = 'stopped';
      // The reason says what to do (connectors word it); the engine only says what it means.
      error = `${stopReason}. The sync stopped; nothing more will be sent until this is fixed.`;
    } else if (downReason) {
      outcome = 'failed';
      error = `${downReason}: the run stopped early; unsent records go out on the next run`;
    } else if (lockLost) {
      outcome = 'interrupted';
      error = `${lockLost}: this run stopped; unsent records go out on the next run`;
    } else if (options.signal?.aborted) {
      outcome = 'interrupted';
      error = 'stopped by a shutdown request; unsent records go out on the next run';
    } else if (counts.rejected > 0 || counts.failed > 0) {
      outcome = 'partial';
    }
    if (outcome === 'success' || outcome === 'partial') ledger.completedWith(mappingHash(workspace, sync));
  } catch (caught) {
    await Promise.allSettled(inFlight);
    await destination.close().catch(() => undefined);
    ledger.flush();
    outcome = 'failed';
    // A commit that failed first is the cause of whatever followed.
    error = (ledger.failure ?? (caught as Error)).message;
  } finally {
    try {
      ledger.finish(outcome, { ...counts }, error);
    } catch (caught) {
      // The state cannot record the run (disk full, file gone read-only): the summary still says
      // what happened; the next run marks this one interrupted and takes over its lock.
      if (outcome !== 'failed') error = (caught as Error).message;
      outcome = 'failed';
    }
  }
  return {
    runId: ledger.id,
    sync: sync.name,
    outcome,
    counts,
    durationMs: Date.now() - startedAt,
    error,
    rejections,
    invalid,
    rejectionReasons: rejectionReasons.list(),
    invalidReasons: invalidReasons.list(),
  };
}
