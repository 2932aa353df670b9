// The daemon's Prometheus metrics (prom-client): what each run did, what destinations answered,
// what the Segment ingest endpoint accepted, and the alerts sent. README.md (Running as a daemon > Metrics) says what each one means.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { DeliveryObserver } from '../delivery/destination.js';
import type { RunCounts, RunSummary } from '../engine/sync.js';
import type { StoreFigures } from '../ingest/index.js';
import type { IngestReason } from '../ingest/reasons.js';

/** Record outcomes counted per sync and destination. */
const RECORD_OUTCOMES = ['sent', 'rejected', 'invalid', 'failed'] as const;

export type SkipReason = 'overlap' | 'locked';

export class DaemonMetrics {
  readonly registry = new Registry();
  private readonly records;
  private readonly responses;
  private readonly retries;
  private readonly rateLimitWaits;
  private readonly rateLimitWaitSeconds;
  private readonly runs;
  private readonly runDuration;
  private readonly lastSuccess;
  private readonly running;
  private readonly skips;
  private readonly ingestEvents;
  private readonly pruned;
  private readonly reloads;
  private readonly alerts;
  /** Where the event store gauges read their figures at each scrape (the running ingest). */
  private eventStores: () => StoreFigures[] = () => [];
  /** Counts already added to `records`, per running sync, so progress adds only the difference. */
  private readonly counted = new Map<string, Pick<RunCounts, (typeof RECORD_OUTCOMES)[number]>>();

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.records = new Counter({
      name: 'backflow_records_total',
      help: 'Records by outcome: sent (confirmed), rejected (refused by the destination), invalid (failed the payload schema, never sent), failed (unconfirmed after every retry).',
      labelNames: ['sync', 'destination', 'outcome'] as const,
      registers,
    });
    this.responses = new Counter({
      name: 'backflow_http_responses_total',
      help: 'HTTP responses from destinations, by status code (every attempt, retries included).',
      labelNames: ['destination', 'status'] as const,
      registers,
    });
    this.retries = new Counter({
      name: 'backflow_retries_total',
      help: 'Requests retried after a 429, 5xx, timeout or connection error.',
      labelNames: ['destination', 'reason'] as const,
      registers,
    });
    this.rateLimitWaits = new Counter({
      name: 'backflow_rate_limit_waits_total',
      help: 'Requests that waited for the rate limiter (configured rate or the vendor rate-limit headers).',
      labelNames: ['destination'] as const,
      registers,
    });
    this.rateLimitWaitSeconds = new Counter({
      name: 'backflow_rate_limit_wait_seconds_total',
      help: 'Time requests spent waiting for the rate limiter.',
      labelNames: ['destination'] as const,
      registers,
    });
    this.runs = new Counter({
      name: 'backflow_runs_total',
      help: 'Finished runs by outcome: success, partial, failed, stopped, interrupted.',
      labelNames: ['sync', 'outcome'] as const,
      registers,
    });
    this.runDuration = new Histogram({
      name: 'backflow_run_duration_seconds',
      help: 'How long runs took, by outcome.',
      labelNames: ['sync', 'outcome'] as const,
      buckets: [0.1, 1, 5, 15, 60, 300, 900, 3600],
      registers,
    });
    this.lastSuccess = new Gauge({
      name: 'backflow_last_success_timestamp_seconds',
      help: 'When the sync last completed a run (success or partial), as Unix time; read from the state at start.',
      labelNames: ['sync'] as const,
      registers,
    });
    this.running = new Gauge({
      name: 'backflow_sync_running',
      help: '1 while a run of the sync is in progress in this daemon.',
      labelNames: ['sync'] as const,
      registers,
    });
    this.skips = new Counter({
      name: 'backflow_skipped_runs_total',
      help: 'Scheduled runs not started: overlap (the previous run still going) or locked (another process runs the sync).',
      labelNames: ['sync', 'reason'] as const,
      registers,
    });
    this.ingestEvents = new Counter({
      name: 'backflow_ingest_events_total',
      help: 'Events received by the Segment-compatible ingest endpoint: accepted (reason duplicate for a retried messageId), or refused with a reason from a fixed set.',
      labelNames: ['outcome', 'reason'] as const,
      registers,
    });
    this.pruned = new Counter({
      name: 'backflow_ingest_events_pruned_total',
      help: "Events deleted from a segment source's event store because they were older than its retention.",
      labelNames: ['source'] as const,
      registers,
    });
    const stores = () => this.eventStores();
    new Gauge({
      name: 'backflow_event_store_bytes',
      help: "Disk used by a segment source's event store: the database file and its write-ahead log.",
      labelNames: ['source'] as const,
      registers,
      collect() {
        this.reset();
        for (const store of stores()) this.set({ source: store.source }, store.bytes);
      },
    });
    this.reloads = new Counter({
      name: 'backflow_config_reloads_total',
      help: 'Config reloads on SIGHUP: applied, or refused (the previous config stays).',
      labelNames: ['result'] as const,
      registers,
    });
    this.alerts = new Counter({
      name: 'backflow_alerts_total',
      help: 'Alert messages after runs, by alert and result: sent (the endpoint answered 2xx), failed (down, slow or refusing, after the retries).',
      labelNames: ['alert', 'result'] as const,
      registers,
    });
  }

  /** Feeds destination answers, retries and rate-limit waits into the metrics. */
  readonly observer: DeliveryObserver = {
    response: (destination, status) => this.responses.inc({ destination, status: String(status) }),
    retry: (destination, reason) => this.retries.inc({ destination, reason }),
    rateLimitWait: (destination, ms) => {
      this.rateLimitWaits.inc({ destination });
      this.rateLimitWaitSeconds.inc({ destination }, ms / 1000);
    },
  };

  /** Makes the series of a sync visible (at 0) before its first run. */
  declareSync(sync: string, destination: string, lastCompletedAt: string | null): void {
    for (const outcome of RECORD_OUTCOMES) this.records.inc({ sync, destination, outcome }, 0);
    this.running.set({ sync }, 0);
    if (lastCompletedAt) this.lastSuccess.set({ sync }, Date.parse(lastCompletedAt) / 1000);
  }

  runStarted(sync: string): void {
    this.running.set({ sync }, 1);
    this.counted.set(sync, { sent: 0, rejected: 0, invalid: 0, failed: 0 });
  }

  /** Adds what a run counted since its last progress report. */
  runProgress(sync: string, destination: string, counts: RunCounts): void {
    const counted = this.counted.get(sync);
    if (!counted) return;
    for (const outcome of RECORD_OUTCOMES) {
      const delta = counts[outcome] - counted[outcome];
      if (delta > 0) this.records.inc({ sync, destination, outcome }, delta);
      counted[outcome] = counts[outcome];
    }
  }

  runFinished(summary: RunSummary, destination: string): void {
    this.runProgress(summary.sync, destination, summary.counts);
    this.runEnded(summary.sync, summary.outcome, summary.durationMs);
    if (summary.outcome === 'success' || summary.outcome === 'partial') this.lastSuccess.set({ sync: summary.sync }, Date.now() / 1000);
  }

  /** A run that ended without a summary (it threw). */
  runCrashed(sync: string, durationMs: number): void {
    this.runEnded(sync, 'failed', durationMs);
  }

  private runEnded(sync: string, outcome: string, durationMs: number): void {
    this.counted.delete(sync);
    this.running.set({ sync }, 0);
    this.runs.inc({ sync, outcome });
    this.runDuration.observe({ sync, outcome }, durationMs / 1000);
  }

  skipped(sync: string, reason: SkipReason): void {
    this.skips.inc({ sync, reason });
  }

  /** Pass as the ingest server's `onEvent`. */
  readonly ingestEvent = (outcome: 'accepted' | 'refused', reason?: IngestReason): void => {
    this.ingestEvents.inc({ outcome, reason: reason ?? '' });
  };

  /** Makes an alert's series visible (at 0) before its first message. */
  declareAlert(alert: string): void {
    for (const result of ['sent', 'failed'] as const) this.alerts.inc({ alert, result }, 0);
  }

  alertResult(alert: string, result: 'sent' | 'failed'): void {
    this.alerts.inc({ alert, result });
  }

  /** Counts a retention pass's deletions (pass as the ingest server's `onPrune`). */
  readonly ingestPruned = (source: string, report: { events: number }): void => {
    this.pruned.inc({ source }, report.events);
  };

  /** Declares the segment sources (at 0 pruned) and where to read their store sizes at each scrape. */
  watchEventStores(figures: () => StoreFigures[]): void {
    this.eventStores = figures;
    for (const store of figures()) this.pruned.inc({ source: store.source }, 0);
  }

  configReloaded(result: 'applied' | 'refused'): void {
    this.reloads.inc({ result });
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
