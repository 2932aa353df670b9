// `backflow sync`: runs now (or sends a saved plan exactly), with a progress bar on a terminal and a summary.
import { crashReport, runReport } from '../../alerts/message.js';
import { AlertNotifier } from '../../alerts/notifier.js';
import type { DeliveryObserver } from '../../delivery/destination.js';
import type { RunLedger } from '../../engine/ledger.js';
import { runSync, type RunCounts, type RunSummary } from '../../engine/sync.js';
import { logger, runLogger, type Logger } from '../../log.js';
import { configHash, countPlanRecords, readPlanHeader, readPlanRecords } from '../../plan/plan-file.js';
import { SyncLockedError, UsageError } from '../../errors.js';
import { withWorkspace, type GlobalOptions } from '../context.js';
import { followDbtRun, loadRunResults, type DbtSelection } from './follow-dbt.js';
import { Interrupt } from '../interrupt.js';
import { describeReasons, n, print, printError, printJson } from '../output.js';
import { progressWanted, SyncProgress } from '../progress.js';

export interface SyncCommandOptions extends GlobalOptions {
  /** Sync names (--sync, repeatable or comma-separated). */
  sync?: string[];
  /** Glob patterns over sync names (--select). */
  select?: string[];
  full?: boolean;
  plan?: string;
  dbtRunResults?: string;
}

/**
 * Exit codes: 0 every record confirmed, 3 some rejected or failed (others sent), 1 stopped or failed;
 * a run cut short by Ctrl-C or SIGTERM exits 130 or 143 instead (decided by the command).
 */
export function exitCodeFor(summaries: RunSummary[]): number {
  if (summaries.some((summary) => summary.outcome === 'failed' || summary.outcome === 'stopped' || summary.outcome === 'interrupted')) return 1;
  if (summaries.some((summary) => summary.outcome === 'partial')) return 3;
  return 0;
}

function describeSummary(summary: RunSummary): string[] {
  const c = summary.counts;
  return [
    `Sync ${summary.sync}: ${summary.outcome} in ${(summary.durationMs / 1000).toFixed(1)}s (run ${summary.runId})`,
    `  read ${n(c.read)}  sent ${n(c.sent)}  rejected ${n(c.rejected)}  failed ${n(c.failed)}  unchanged ${n(c.unchanged)}  invalid ${n(c.invalid)}  removed ${n(c.removed)}`,
    ...describeReasons('✗', '', summary.rejectionReasons ?? []),
    ...(c.rejected + c.failed > 0 ? [`  every refused record: backflow rejected --sync ${summary.sync}`] : []),
    ...describeReasons('!', 'invalid, not sent: ', summary.invalidReasons ?? []),
    ...(c.invalid > 0 ? [`  every invalid record: backflow runs --sync ${summary.sync} --json`] : []),
    ...(summary.error ? [`  ${summary.error}`] : []),
  ];
}

function describeDbtSelection(dbt: DbtSelection): string[] {
  const { results } = dbt;
  const from = [results.invocationId && `invocation ${results.invocationId}`, results.generatedAt].filter(Boolean).join(', ');
  return [
    `dbt run ${results.file}${from ? ` (${from})` : ''}: ${dbt.run.length} sync${dbt.run.length === 1 ? '' : 's'} to run, ${dbt.skipped.length} skipped`,
    ...dbt.skipped.map((skip) => `  skipped ${skip.sync}: ${skip.message}`),
    ...dbt.warnings.map((warning) => `  warning ${warning.sync}: ${warning.message}`),
  ];
}

export async function syncCommand(options: SyncCommandOptions): Promise<number> {
  // Warnings go to the log (stderr), naming the run; the summary stays on stdout.
  const logs = new Map<string, Logger>();
  const logFor = (sync: string) => logs.get(sync) ?? runLogger(sync);
  const observer: DeliveryObserver = {
    retry: (destination, reason, context) => logFor(context.sync).warn({ destination, reason, key: context.key }, 'retrying a request'),
  };
  if (options.dbtRunResults && options.plan) throw new UsageError('--plan sends exactly a saved plan: it does not combine with --dbt-run-results');
  const runResults = options.dbtRunResults ? loadRunResults(options.dbtRunResults) : undefined;
  return withWorkspace(
    options,
    false,
    async (workspace) => {
      const summaries: RunSummary[] = [];
      const status = new SyncProgress(progressWanted(options.json));
      let syncs = workspace.selectSyncs(options.sync, options.select);
      let dbt: DbtSelection | undefined;
      if (runResults) {
        dbt = followDbtRun(workspace, syncs, runResults);
        syncs = dbt.run;
        if (!options.json) for (const line of describeDbtSelection(dbt)) print(line);
      }
      let header: Awaited<ReturnType<typeof readPlanHeader>> | undefined;
      if (options.plan) {
        header = await readPlanHeader(options.plan);
        if (header.configHash !== configHash(workspace.config)) {
          throw new UsageError(`the config changed since ${options.plan} was made: make the plan again (backflow plan --out ${options.plan})`);
        }
        syncs = syncs.filter((sync) => sync.name in header!.generations);
        for (const sync of syncs) {
          if (workspace.state.generation(sync.name) !== header.generations[sync.name]) {
            throw new UsageError(`the state of sync "${sync.name}" changed since ${options.plan} was made (another run happened): make the plan again`);
          }
        }
      }
      // Alerts go out in the background while later syncs run; the command waits for them at the end.
      const alerts = new AlertNotifier({ via: 'sync', log: logger });
      // The run in progress, so an exit that cannot wait still records its real counts.
      let current: { sync: string; startedAt: number; run?: { ledger: RunLedger; counts: Readonly<RunCounts> } } | undefined;
      const interrupt = new Interrupt({
        stopping: (signal, graceMs) => {
          status.stop();
          printError(
            `${signal}: stopping; in-flight requests may finish (up to ${graceMs / 1000}s), then the run is recorded. Press Ctrl-C again to exit now.`,
          );
        },
        force: (reason, exitCode) => {
          status.stop();
          if (current?.run) {
            const counts: RunCounts = { ...current.run.counts };
            const error = `${reason}: exited without waiting for in-flight requests; unconfirmed records go out on the next run`;
            current.run.ledger.finish('interrupted', { ...counts }, error);
            const summary: RunSummary = {
              runId: current.run.ledger.id,
              sync: current.sync,
              outcome: 'interrupted',
              counts,
              durationMs: Date.now() - current.startedAt,
              error,
              rejections: [],
              invalid: [],
            };
            summaries.push(summary);
            if (!options.json) for (const line of describeSummary(summary)) print(line);
          }
          if (options.json) printJson({ runs: summaries });
          // The one place a command ends the process itself: it must not wait for the requests in flight.
          process.exit(exitCode);
        },
      });
      try {
        for (const sync of syncs) {
          if (interrupt.received) break;
          const startedAt = Date.now();
          current = { sync: sync.name, startedAt };
          let summary: RunSummary;
          // A saved plan knows how many records it holds for this sync: the bar shows a total and an ETA.
          status.start(sync.name, options.plan ? await countPlanRecords(options.plan, sync.name) : undefined);
          try {
            summary = await runSync(workspace, sync, {
              full: options.full,
              planned: options.plan ? readPlanRecords(options.plan, sync.name) : undefined,
              signal: interrupt.signal,
              onStart: (ledger, counts) => {
                current!.run = { ledger, counts };
                logs.set(sync.name, runLogger(sync.name, ledger.id));
              },
              onLockLost: (why) => logFor(sync.name).warn({ why }, 'lost the sync lock: stopping this run'),
              onProgress: (counts) => status.update(counts),
            });
          } catch (error) {
            status.stop();
            // A run that could not be recorded (the state file unusable) still alerts; a sync that
            // another process is running is not a run of this one.
            if (!(error instanceof SyncLockedError)) alerts.runEnded(workspace.config.alerts, crashReport(sync, error, Date.now() - startedAt));
            throw error;
          }
          status.stop();
          if (summary.outcome === 'stopped' || summary.outcome === 'failed')
            logFor(sync.name).error({ outcome: summary.outcome, error: summary.error }, `the run ${summary.outcome}`);
          summaries.push(summary);
          alerts.runEnded(workspace.config.alerts, runReport(sync, summary));
          current = undefined;
          if (!options.json) for (const line of describeSummary(summary)) print(line);
        }
      } finally {
        interrupt.detach();
        // Bounded: each message gives up after its alert's timeoutSeconds (default 5).
        await alerts.settled();
      }
      if (options.json) printJson({ runs: summaries, ...(dbt ? { dbt: { runResults: dbt.results.file, skipped: dbt.skipped, warnings: dbt.warnings } } : {}) });
      // A sync held back because dbt failed its model leaves the destination behind: that is a failure.
      if (interrupt.exitCode !== undefined) return interrupt.exitCode;
      return dbt?.skipped.some((skip) => skip.failed) ? 1 : exitCodeFor(summaries);
    },
    observer,
  );
}
