// What an alert says about a run, and whether it says anything: pure functions of the run and the
// alert's filters, so the rules are tested without a network. The webhook body is this message.
import type { AlertConfig, AlertOutcome, SyncConfig } from '../config/schema.js';
import type { RunCounts, RunSummary } from '../engine/sync.js';

/** How many rejections and invalid records a message lists (`backflow runs` has them all). */
export const LISTED_RECORDS = 5;

export interface RecordIssue {
  key: string;
  reason: string;
}

/** A finished run, as the callers hand it over. */
export interface RunReport {
  sync: string;
  destination: string;
  /** null when the run could not even be recorded (e.g. the state file is unusable). */
  runId: number | null;
  outcome: AlertOutcome;
  counts: RunCounts;
  durationMs: number;
  finishedAt: Date;
  error: string | null;
  rejections: RecordIssue[];
  invalid: RecordIssue[];
}

/** Which process sent the message. */
export type Via = 'sync' | 'daemon' | 'alert test';

/** Why an alert fired: the run's outcome is in `on`, or it refused more than `rejectedAbove` records. */
export type AlertReason = 'outcome' | 'rejectedAbove';

/** The webhook body, field for field (README.md, "Alerts", documents each one). */
export interface AlertMessage {
  id: string;
  event: 'run.finished';
  test: boolean;
  sentAt: string;
  alert: string;
  reason: AlertReason;
  sync: string;
  destination: string;
  outcome: AlertOutcome;
  runId: number | null;
  startedAt: string;
  finishedAt: string;
  durationMs: number;
  counts: RunCounts;
  refused: number;
  rejectedAbove: number | null;
  error: string | null;
  rejections: RecordIssue[];
  invalid: RecordIssue[];
  host: string;
  via: Via;
}

export interface MessageContext {
  /** Unique per message; a retry sends the same id, so a receiver can drop repeats. */
  id: string;
  sentAt: Date;
  host: string;
  via: Via;
  test?: boolean;
}

const ZERO_COUNTS = { read: 0, added: 0, changed: 0, unchanged: 0, removed: 0, retry: 0, sent: 0, rejected: 0, failed: 0, invalid: 0 } satisfies RunCounts;

/** The counts in the documented order, whatever order the engine built them in. */
function orderedCounts(counts: RunCounts): RunCounts {
  const ordered = { ...ZERO_COUNTS };
  for (const key of Object.keys(ZERO_COUNTS) as (keyof typeof ZERO_COUNTS)[]) ordered[key] = counts[key];
  return ordered;
}

export function runReport(sync: SyncConfig, summary: RunSummary, finishedAt = new Date()): RunReport {
  return {
    sync: sync.name,
    destination: sync.destination,
    runId: summary.runId,
    // runSync never returns a run still `running`; were it to, the run did not finish.
    outcome: summary.outcome === 'running' ? 'interrupted' : summary.outcome,
    counts: orderedCounts(summary.counts),
    durationMs: summary.durationMs,
    finishedAt,
    error: summary.error ?? null,
    rejections: summary.rejections.slice(0, LISTED_RECORDS),
    invalid: summary.invalid.slice(0, LISTED_RECORDS),
  };
}

/** A run that threw before it could be recorded (the daemon's "run crashed"): a failure all the same. */
export function crashReport(sync: SyncConfig, error: unknown, durationMs: number, finishedAt = new Date()): RunReport {
  return {
    sync: sync.name,
    destination: sync.destination,
    runId: null,
    outcome: 'failed',
    counts: { ...ZERO_COUNTS },
    durationMs,
    finishedAt,
    error: error instanceof Error ? error.message : String(error),
    rejections: [],
    invalid: [],
  };
}

/** Records the run did not deliver because they were refused: by the destination (4xx) or by its payload schema. */
export function refusedCount(counts: RunCounts): number {
  return counts.rejected + counts.invalid;
}

/** Why `alert` fires for `run`, or undefined when it stays quiet. */
export function alertReason(alert: AlertConfig, run: RunReport): AlertReason | undefined {
  if (alert.syncs && !alert.syncs.includes(run.sync)) return undefined;
  if (alert.on.includes(run.outcome)) return 'outcome';
  if (alert.rejectedAbove !== undefined && refusedCount(run.counts) > alert.rejectedAbove) return 'rejectedAbove';
  return undefined;
}

export function alertMessage(alert: AlertConfig, run: RunReport, reason: AlertReason, context: MessageContext): AlertMessage {
  return {
    id: context.id,
    event: 'run.finished',
    test: context.test ?? false,
    sentAt: context.sentAt.toISOString(),
    alert: alert.name,
    reason,
    sync: run.sync,
    destination: run.destination,
    outcome: run.outcome,
    runId: run.runId,
    startedAt: new Date(run.finishedAt.getTime() - run.durationMs).toISOString(),
    finishedAt: run.finishedAt.toISOString(),
    durationMs: run.durationMs,
    counts: orderedCounts(run.counts),
    refused: refusedCount(run.counts),
    rejectedAbove: alert.rejectedAbove ?? null,
    error: run.error,
    rejections: run.rejections.slice(0, LISTED_RECORDS),
    invalid: run.invalid.slice(0, LISTED_RECORDS),
    host: context.host,
    via: context.via,
  };
}

/**
 * The made-up run `backflow alert test` reports: a failed run of the first sync the alert covers,
 * with one rejection, so every part of the message shows.
 */
export function sampleReport(alert: AlertConfig, syncs: readonly SyncConfig[], finishedAt = new Date()): RunReport {
  const sync = syncs.find((entry) => !alert.syncs || alert.syncs.includes(entry.name)) ?? syncs[0];
  return {
    sync: sync.name,
    destination: sync.destination,
    runId: 0,
    outcome: 'failed',
    counts: { ...ZERO_COUNTS, read: 3, added: 3, sent: 2, rejected: 1 },
    durationMs: 1200,
    finishedAt,
    error: 'This is a test message from backflow alert test: no run failed.',
    rejections: [{ key: 'example-1', reason: 'HTTP 400: an example rejection reason' }],
    invalid: [],
  };
}
