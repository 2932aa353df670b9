// The run history and the standing rejections as the rest of Backflow sees them. The state's tables
// keep SQLite's shapes (snake_case columns, 0/1 flags, counts as JSON text); these functions turn a
// row into the object `status`, `runs` and `rejected` print, so the public JSON has one casing and
// no caller ever reads a raw row (README.md, "JSON output of status, runs and rejected", documents these shapes).

export type RunOutcome = 'running' | 'success' | 'partial' | 'failed' | 'stopped' | 'interrupted';
/** A row of `runs`: a sync's run, or a `backflow reset` of it (recorded there so the history shows it). */
export type RunRowOutcome = RunOutcome | 'reset';

/** A row of the `runs` table, as SQLite returns it. */
export interface RunRow {
  id: number;
  sync: string;
  started_at: string;
  ended_at: string | null;
  outcome: RunRowOutcome;
  full: number;
  counts: string;
  error: string | null;
}

/** A row of the `rejections` table, as SQLite returns it. */
export interface RejectionRow {
  sync: string;
  key: string;
  fingerprint: string;
  status: number | null;
  reason: string;
  attempts: number;
  first_at: string;
  last_at: string;
  run_id: number | null;
}

/** A run (or a reset) of a sync. */
export interface RunRecord {
  id: number;
  sync: string;
  /** ISO 8601. */
  startedAt: string;
  /** ISO 8601; null while the run is going. */
  endedAt: string | null;
  outcome: RunRowOutcome;
  /** Read every row, ignoring the incremental cursor (`--full`). */
  full: boolean;
  /** Records per class (`read`, `sent`, `rejected`, …); live while running; `{ forgotten }` for a reset. */
  counts: Record<string, number>;
  error: string | null;
}

/** A record the destination refused, due again on the next run. */
export interface RejectionRecord {
  sync: string;
  key: string;
  /** The HTTP status of the last refusal; null when there was none (no answer in time, a failed background job). */
  status: number | null;
  reason: string;
  attempts: number;
  /** When this version of the record was first refused (ISO 8601). */
  firstAt: string;
  /** When it was last refused (ISO 8601). */
  lastAt: string;
  /** The run that last refused it (`backflow runs --run ID`). */
  runId: number | null;
}

/**
 * A standing rejection as the planner needs it: with the fingerprint of the refused payload, to
 * tell whether the record read now is the version refused. Internal: `rejected --json` leaves the
 * fingerprint out (README.md says why).
 */
export interface StandingRejection extends RejectionRecord {
  fingerprint: string;
}

/** A rejected, failed or invalid record of one run, with its reason. */
export interface RunIssue {
  key: string;
  class: 'rejected' | 'failed' | 'invalid';
  status: number | null;
  reason: string;
}

export function toRunRecord(row: RunRow): RunRecord {
  return {
    id: row.id,
    sync: row.sync,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    outcome: row.outcome,
    full: row.full === 1,
    counts: JSON.parse(row.counts) as Record<string, number>,
    error: row.error,
  };
}

export function toRejectionRecord(row: RejectionRow): RejectionRecord {
  return {
    sync: row.sync,
    key: row.key,
    status: row.status,
    reason: row.reason,
    attempts: row.attempts,
    firstAt: row.first_at,
    lastAt: row.last_at,
    runId: row.run_id,
  };
}

export function toStandingRejection(row: RejectionRow): StandingRejection {
  return { ...toRejectionRecord(row), fingerprint: row.fingerprint };
}
