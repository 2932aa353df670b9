// Retention of the event log: the `retention` duration, and the pruner that deletes events older than
// it in the background — small batches sized to a few milliseconds, each its own transaction, after
// a waiting group commit rather than before it — so that a daemon ingesting for months levels off
// in disk use. Profiles are not touched.
import type Database from 'better-sqlite3';
import { z } from 'zod';

const UNITS = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000 } as const;

/** `90d`, `12h`, `45m` (or `30s`, for tests) as milliseconds; undefined when `text` is not a duration. */
export function durationMs(text: string): number | undefined {
  const match = text.trim().match(/^(\d+)\s*([dhms])$/);
  const ms = match ? Number(match[1]) * UNITS[match[2] as keyof typeof UNITS] : 0;
  return ms > 0 && Number.isSafeInteger(ms) ? ms : undefined;
}

/** The `retention` setting: kept as written (the config is parsed more than once), checked here. */
export const retentionSetting = z
  .string()
  .default('30d')
  .refine((text) => durationMs(text) !== undefined, {
    error: (issue) => `"${String(issue.input)}" is not a duration: write a whole number and a unit, e.g. 30d, 12h, 45m`,
  })
  .describe('How long stored events are kept (and deduplicated by messageId): a duration such as 90d, 12h, 45m (default 30d). Profiles are kept.');

/**
 * What one prune transaction may take: a request arriving meanwhile waits at most about this long.
 * The batch size follows it: each deleted event touches the messageId index at a random place, so
 * the cost per event depends on the disk and the machine's load.
 */
export const PRUNE_BUDGET_MS = 5;
/**
 * Between batches the pruner rests three times as long as the batch took: at most a quarter of the
 * thread goes to pruning, so on a busy machine ingest keeps most of the CPU the process gets.
 */
const REST_PER_WORK = 3;
const BATCH_SIZES = { first: 100, min: 10, max: 2_000 };

export interface PruneReport {
  /** Events deleted by this pass. */
  events: number;
  /** The cutoff: events received before it were deleted. */
  olderThan: string;
  /** Transactions the pass took, and the longest one (what a request may have waited behind). */
  batches: number;
  longestBatchMs: number;
}

export interface PrunerOptions {
  /** True while a group commit is queued: pruning then waits for it (afterCommit). */
  busy: () => boolean;
  onPrune?: (report: PruneReport) => void;
  onError?: (error: Error) => void;
}

/**
 * Deletes expired events in arrival (rowid) order, oldest first, up to the first one still within the
 * retention; an event that arrived out of order is kept until the ones before it expire (seconds).
 * Receipt time, not the event's own timestamp, decides: an import of old history is kept for the
 * whole window, so its messageIds still deduplicate.
 */
export class Pruner {
  private readonly oldest;
  private readonly deleteUpTo;
  private timer: NodeJS.Timeout | undefined;
  private step: NodeJS.Immediate | undefined;
  /** The pass's next batch, waiting for the queued commit to go first. */
  private waiting: (() => void) | undefined;
  private stopped = false;
  private batchSize = BATCH_SIZES.first;
  /** Total events deleted since start (for metrics). */
  pruned = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly retentionMs: number,
    private readonly options: PrunerOptions,
  ) {
    this.oldest = db.prepare('select id, received_at from events order by id limit ?');
    this.deleteUpTo = db.prepare('delete from events where id <= ?');
  }

  /** How often to look for expired events: a tenth of the retention, between 100 ms and a minute. */
  private get interval(): number {
    return Math.min(Math.max(this.retentionMs / 10, 100), 60_000);
  }

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    this.waiting = undefined;
    clearTimeout(this.timer);
    if (this.step) clearImmediate(this.step);
  }

  /**
   * Called by the store after each group commit: a batch waiting for it runs next, before any later
   * commit, so pruning advances by at least one batch per commit however busy ingest is.
   */
  afterCommit(): void {
    const batch = this.waiting;
    this.waiting = undefined;
    if (batch) this.step = setImmediate(batch);
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.pass(), delay);
    this.timer.unref();
  }

  private pass(): void {
    const olderThan = new Date(Date.now() - this.retentionMs).toISOString();
    const report: PruneReport = { events: 0, olderThan, batches: 0, longestBatchMs: 0 };
    const batch = () => {
      this.step = undefined;
      if (this.stopped) return;
      let deleted: number;
      const size = this.batchSize;
      const started = performance.now();
      try {
        deleted = this.deleteBatch(olderThan, size);
      } catch (error) {
        this.options.onError?.(error as Error);
        this.schedule(this.interval);
        return;
      }
      const took = performance.now() - started;
      report.batches++;
      report.longestBatchMs = Math.max(report.longestBatchMs, Number(took.toFixed(1)));
      report.events += deleted;
      this.pruned += deleted;
      if (deleted === size) {
        this.resize(took);
        this.timer = setTimeout(next, Math.ceil(took * REST_PER_WORK));
        this.timer.unref();
        return;
      }
      if (report.events > 0) this.options.onPrune?.(report);
      this.schedule(this.interval);
    };
    // A commit is queued: it goes first, and this batch right after it (see afterCommit).
    const next = () => {
      if (this.options.busy()) this.waiting = batch;
      else this.step = setImmediate(batch);
    };
    next();
  }

  /** Halves the batch after one over the budget, doubles it after one well under. */
  private resize(tookMs: number): void {
    if (tookMs > PRUNE_BUDGET_MS) this.batchSize = Math.max(BATCH_SIZES.min, Math.floor(this.batchSize / 2));
    else if (tookMs < PRUNE_BUDGET_MS / 2) this.batchSize = Math.min(BATCH_SIZES.max, this.batchSize * 2);
  }

  /**
   * Deletes the oldest run of expired events, at most `size`, in one transaction. Without its own
   * fsync (synchronous = NORMAL): the next ingest commit's fsync covers it, and a prune lost to a
   * crash is simply done again; ingest commits keep the store's setting (FULL).
   */
  private deleteBatch(olderThan: string, size: number): number {
    const synchronous = this.db.pragma('synchronous', { simple: true }) as number;
    this.db.pragma('synchronous = NORMAL');
    try {
      return this.db
        .transaction(() => {
          const rows = this.oldest.all(size) as { id: number; received_at: string }[];
          let expired = 0;
          while (expired < rows.length && rows[expired].received_at < olderThan) expired++;
          if (expired > 0) this.deleteUpTo.run(rows[expired - 1].id);
          return expired;
        })
        .immediate();
    } finally {
      this.db.pragma(`synchronous = ${synchronous}`);
    }
  }
}
