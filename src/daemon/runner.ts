// Runs syncs for the daemon: at most one run per sync at a time (a tick during a run is skipped and
// counted), a sync another process holds is skipped, and a run that fails never affects the others.
import { crashReport, runReport } from '../alerts/message.js';
import type { AlertNotifier } from '../alerts/notifier.js';
import type { SyncConfig } from '../config/schema.js';
import type { RunLedger } from '../engine/ledger.js';
import { runSync, type RunCounts } from '../engine/sync.js';
import type { Workspace } from '../engine/workspace.js';
import { runLogger, type Logger } from '../log.js';
import { SyncLockedError } from '../errors.js';
import { redact } from '../redact.js';
import type { Store } from '../state/contract.js';
import { openStore, type StateLocation } from '../state/location.js';
import type { RunResult } from '../fleet/dispatch.js';
import type { DaemonMetrics } from './metrics.js';

interface ActiveRun {
  sync: string;
  controller: AbortController;
  /** Each run has its own state connection: SQLite's per-run temp tables live on a connection. */
  state: Store;
  log: Logger;
  /** The run's ledger, once its lock is held and the run recorded. */
  ledger?: RunLedger;
  counts?: RunCounts;
  done?: Promise<void>;
}

export class Runner {
  private readonly active = new Map<string, ActiveRun>();

  constructor(
    private readonly stateLocation: StateLocation,
    private readonly metrics: DaemonMetrics,
    private readonly log: Logger,
    /** Sends a run's alerts in the background: never awaited here, so the next run never waits on them. */
    private readonly alerts: AlertNotifier,
  ) {}

  /** Starts a run of `sync` unless one is already in progress here. */
  start(workspace: Workspace, sync: SyncConfig): void {
    void this.run(workspace, sync);
  }

  /**
   * Runs `sync` now (unless a run of it is already in progress here) and resolves with what
   * happened, never rejecting: a fleet job completes with it. `onRunId` hears the run's id once
   * it is recorded.
   */
  run(workspace: Workspace, sync: SyncConfig, onRunId?: (runId: number) => void): Promise<RunResult> {
    const previous = this.active.get(sync.name);
    if (previous) {
      this.metrics.skipped(sync.name, 'overlap');
      previous.log.info({ reason: 'overlap' }, 'run skipped: the previous run of this sync is still going');
      return Promise.resolve({ outcome: 'skipped', reason: 'overlap', runId: null, counts: {} });
    }
    let state: Store;
    try {
      state = openStore(this.stateLocation);
    } catch (error) {
      this.metrics.runCrashed(sync.name, 0);
      runLogger(sync.name, undefined, this.log).error({ err: error }, 'run failed: cannot open the state');
      this.alerts.runEnded(workspace.config.alerts, crashReport(sync, error, 0));
      return Promise.resolve(crashed(error));
    }
    const run: ActiveRun = { sync: sync.name, controller: new AbortController(), state, log: runLogger(sync.name, undefined, this.log) };
    this.active.set(sync.name, run);
    const result = this.execute(run, workspace.forRun(state), sync, onRunId).finally(() => this.active.delete(sync.name));
    run.done = result.then(() => undefined);
    return result;
  }

  private async execute(run: ActiveRun, workspace: Workspace, sync: SyncConfig, onRunId?: (runId: number) => void): Promise<RunResult> {
    const startedAt = Date.now();
    try {
      const summary = await runSync(workspace, sync, {
        signal: run.controller.signal,
        onStart: (ledger) => {
          run.ledger = ledger;
          run.log = runLogger(sync.name, ledger.id, this.log);
          this.metrics.runStarted(sync.name);
          run.log.info('run started');
          onRunId?.(ledger.id);
        },
        onLockLost: (why) => run.log.warn({ why }, 'lost the sync lock: stopping this run'),
        onProgress: (counts) => {
          run.counts = counts;
          this.metrics.runProgress(sync.name, sync.destination, counts);
        },
      });
      this.metrics.runFinished(summary, sync.destination);
      this.alerts.runEnded(workspace.config.alerts, runReport(sync, summary));
      const level = summary.outcome === 'success' ? 'info' : summary.outcome === 'partial' || summary.outcome === 'interrupted' ? 'warn' : 'error';
      run.log[level](
        {
          outcome: summary.outcome,
          counts: summary.counts,
          durationMs: summary.durationMs,
          ...(summary.error ? { error: summary.error } : {}),
          ...(summary.rejections.length ? { rejections: summary.rejections } : {}),
        },
        'run finished',
      );
      return { outcome: summary.outcome, runId: summary.runId, counts: { ...summary.counts }, ...(summary.error ? { error: summary.error } : {}) };
    } catch (error) {
      if (error instanceof SyncLockedError) {
        this.metrics.skipped(sync.name, 'locked');
        run.log.info({ reason: 'locked', holder: error.message }, 'run skipped: another process is running this sync');
        return { outcome: 'skipped', reason: 'locked', runId: null, counts: {}, error: error.message };
      }
      // runSync records its own failures; this is one it could not record (e.g. the state file).
      this.metrics.runCrashed(sync.name, Date.now() - startedAt);
      run.log.error({ err: error }, 'run crashed');
      this.alerts.runEnded(workspace.config.alerts, crashReport(sync, error, Date.now() - startedAt));
      return crashed(error);
    } finally {
      await workspace.close().catch((error: unknown) => run.log.warn({ err: error }, 'closing the source failed'));
      run.state.close();
    }
  }

  /** Stops feeding every run: in-flight requests finish and are committed. */
  abortAll(): void {
    for (const run of this.active.values()) run.controller.abort();
  }

  running(): string[] {
    return [...this.active.keys()];
  }

  /** Resolves when no run is in progress. */
  async idle(): Promise<void> {
    while (this.active.size > 0) await Promise.allSettled([...this.active.values()].flatMap((run) => (run.done ? [run.done] : [])));
  }

  /**
   * For an exit that cannot wait: records the unfinished runs as interrupted and releases their
   * locks. Every confirmed record is already committed (call this after pending commits ran).
   */
  abandon(reason: string): void {
    for (const run of this.active.values()) {
      if (run.ledger) run.ledger.finish('interrupted', { ...(run.counts ?? {}) }, reason);
      else run.state.releaseLock(run.sync);
      run.log.warn({ reason }, 'run abandoned: unconfirmed records go out on the next run');
    }
  }

  /** The logger of the sync's current run (retries are logged with their run). */
  logFor(sync: string): Logger {
    return this.active.get(sync)?.log ?? runLogger(sync, undefined, this.log);
  }
}

/** A run that could not even be recorded (the state could not be opened or written). */
function crashed(error: unknown): RunResult {
  return { outcome: 'failed', runId: null, counts: {}, error: redact(error instanceof Error ? error.message : String(error)) };
}
