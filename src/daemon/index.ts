// `backflow daemon`: runs every sync on its schedule, serves /healthz, /readyz and /metrics, reloads
// the config on SIGHUP (or, started from a terminal, stops on it: the terminal went away), and on
// SIGTERM/SIGINT lets in-flight requests finish before it exits.
import { AlertNotifier } from '../alerts/notifier.js';
import type { LoadedConfig } from '../config/load.js';
import { ConfigError, formatIssue } from '../errors.js';
import type { DeliveryObserver } from '../delivery/destination.js';
import { Workspace } from '../engine/workspace.js';
import { logger as rootLogger, type Logger } from '../log.js';
import type { JobHandler } from '../fleet/dispatch.js';
import { fleetStateOf } from '../fleet/state.js';
import { openStore } from '../state/location.js';
import { Fleet } from './fleet.js';
import { FleetBudgets } from '../fleet/budgets.js';
import { DaemonMetrics } from './metrics.js';
import { Runner } from './runner.js';
import { Scheduler } from './scheduler.js';
import { startServer, type Readiness } from './server.js';

/** Something that runs alongside the syncs for the daemon's lifetime (e.g. the Segment ingest server). */
export interface DaemonService {
  name: string;
  start(loaded: LoadedConfig, metrics: DaemonMetrics, log: Logger): Promise<{ close(): Promise<void>; addresses?: unknown }>;
}

export interface DaemonOptions {
  /** Reads the config (and registers its secrets); called at start and on every SIGHUP. */
  load: () => LoadedConfig;
  services?: DaemonService[];
  /** Ends the process at once (a second signal, or the grace period over); never returns. */
  exit: (code: number) => void;
  log?: Logger;
  /**
   * Started from a terminal: SIGHUP then means the terminal went away (the kernel's hangup), and
   * stops the daemon as SIGTERM does. Otherwise (systemd, a container) SIGHUP reloads the config.
   */
  hangupStops?: boolean;
}

/** Whether this process was started attached to a terminal (so a SIGHUP is most likely a hangup). */
export function attachedToTerminal(): boolean {
  return Boolean(process.stdin.isTTY || process.stdout.isTTY || process.stderr.isTTY);
}

/** Runs until a signal stops it; resolves with the exit code of a clean stop (0). */
export async function runDaemon(options: DaemonOptions): Promise<number> {
  const log = options.log ?? rootLogger;
  let loaded = options.load();
  const metrics = new DaemonMetrics();
  const state = openStore(loaded.stateLocation);
  const alerts = new AlertNotifier({ via: 'daemon', log, onResult: (alert, result) => metrics.alertResult(alert, result) });
  const runner = new Runner(loaded.stateLocation, metrics, log, alerts);

  const observer: DeliveryObserver = {
    ...metrics.observer,
    retry: (destination, reason, context) => {
      metrics.observer.retry?.(destination, reason, context);
      runner.logFor(context.sync).warn({ destination, reason, key: context.key }, 'retrying a request');
    },
  };
  // Fleet mode (the state on PostgreSQL): ticks go to the fleet's queue, runs come from it, and
  // every destination's rate limit and concurrency are the fleet's.
  const fleetState = fleetStateOf(loaded);
  const budgets = fleetState ? await FleetBudgets.forState(fleetState) : undefined;
  let workspace = new Workspace(loaded, state, observer, budgets);
  let stopping = false;
  let fleet: Fleet | undefined;

  const declare = (config: LoadedConfig) => {
    for (const sync of config.config.syncs) {
      metrics.declareSync(sync.name, sync.destination, state.lastCompletedAt(sync.name));
      if (!sync.schedule) log.warn({ sync: sync.name }, 'this sync has no schedule: the daemon will not run it (use backflow sync)');
    }
    for (const alert of config.config.alerts) metrics.declareAlert(alert.name);
  };
  const scheduler = new Scheduler((name, instant) => {
    if (stopping) return;
    const sync = workspace.config.syncs.find((entry) => entry.name === name);
    if (!sync) return;
    // A sync already running here skips its tick as it always has (counted as an overlap).
    if (fleet && !runner.running().includes(name)) fleet.tick(name, instant);
    else runner.start(workspace, sync);
  }, log);

  // A job this member took: run by the Runner like a tick, the job completing with its outcome.
  const runJob: JobHandler = async (job, context) => {
    const sync = workspace.config.syncs.find((entry) => entry.name === job.sync);
    if (stopping) throw new Error('the member that took this job is shutting down: the job goes to another member');
    if (!sync) throw new Error(`the member that took this job has no sync named ${job.sync} in its config`);
    const result = await runner.run(workspace, sync, context.started);
    // Cut short by this member's shutdown: a triggered run goes on at once on another member.
    if (stopping && job.kind === 'trigger' && result.outcome === 'interrupted')
      throw new Error('the member running it shut down mid-run (interrupted): retried on another member');
    return result;
  };

  const readiness = (): Readiness => {
    const problems: string[] = [];
    if (stopping) problems.push('shutting down');
    try {
      state.check();
    } catch (error) {
      problems.push(`state file ${loaded.statePath}: ${(error as Error).message}`);
    }
    return { ready: problems.length === 0, problems };
  };

  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  const services: { name: string; close(): Promise<void> }[] = [];
  try {
    server = await startServer(loaded.config.daemon.listen, {
      readiness,
      metrics: async () => ({ contentType: metrics.contentType, text: await metrics.text() }),
    });
    for (const service of options.services ?? []) {
      const started = await service.start(loaded, metrics, log.child({ service: service.name }));
      services.push({ name: service.name, close: () => started.close() });
      log.info({ service: service.name, addresses: started.addresses }, 'service started');
    }
    if (fleetState) {
      fleet = await Fleet.join({ ...fleetState, lockExpiryMs: loaded.config.state.lockExpirySeconds * 1000, log });
      await fleet.work(
        loaded.config.syncs.map((sync) => sync.name),
        runJob,
      );
    }
  } catch (error) {
    await fleet?.leave().catch(() => {});
    await budgets?.close().catch(() => {});
    await Promise.allSettled(services.map((service) => service.close()));
    await server?.close();
    state.close();
    throw error;
  }
  const { url, close: closeServer } = server;

  // A rejection nobody awaited must not end the daemon: every sync would stop with it.
  const onUnhandled = (reason: unknown) => log.error({ err: reason }, 'unexpected error (the daemon keeps running)');

  const reload = () => {
    if (stopping) return;
    let next: LoadedConfig;
    try {
      next = options.load();
    } catch (error) {
      metrics.configReloaded('refused');
      const issues = error instanceof ConfigError ? error.issues.map(formatIssue) : [(error as Error).message];
      log.error({ issues }, 'config reload refused: the previous config stays in use');
      return;
    }
    if (next.statePath !== loaded.statePath) {
      metrics.configReloaded('refused');
      log.error({ state: next.statePath }, 'config reload refused: the state (state.path or state.url) changed; restart the daemon to use another state');
      return;
    }
    if (next.config.daemon.listen !== loaded.config.daemon.listen) {
      log.warn({ listen: next.config.daemon.listen }, 'daemon.listen changed: it takes effect on restart');
    }
    // Running syncs finish on the config they started with; later runs use the new one.
    loaded = next;
    workspace = new Workspace(next, state, observer, budgets);
    declare(next);
    scheduler.apply(next.config.syncs);
    fleet
      ?.work(
        next.config.syncs.map((sync) => sync.name),
        runJob,
      )
      .catch((error: unknown) => log.error({ err: error }, "could not work the reloaded syncs' fleet jobs"));
    metrics.configReloaded('applied');
    log.info({ running: runner.running(), schedules: scheduler.nextRuns() }, 'config reloaded');
  };

  return new Promise<number>((resolve) => {
    const handlers: [NodeJS.Signals, () => void][] = [
      ['SIGTERM', () => shutdown('SIGTERM')],
      ['SIGINT', () => shutdown('SIGINT')],
      ['SIGHUP', options.hangupStops ? hangup : reload],
    ];
    for (const [signal, handler] of handlers) process.on(signal, handler);
    process.on('unhandledRejection', onUnhandled);
    const detach = () => {
      for (const [signal, handler] of handlers) process.off(signal, handler);
      process.off('unhandledRejection', onUnhandled);
    };
    // Announced only once the signal handlers are in place: a SIGHUP before that would end the process.
    declare(loaded);
    scheduler.apply(loaded.config.syncs);
    log.info({ url, state: loaded.statePath, schedules: scheduler.nextRuns(), ...(fleet ? { member: fleet.member.id } : {}) }, 'daemon started');
    if (options.hangupStops) log.info('started from a terminal: closing it (SIGHUP) stops the daemon cleanly; run it detached (systemd) to reload on SIGHUP');

    // Runs after the commits already queued (each is a setImmediate), so no confirmed record is lost.
    const forceExit = (reason: string) =>
      setImmediate(() => {
        runner.abandon(reason);
        log.warn({ reason }, 'daemon stopped without waiting for in-flight requests');
        options.exit(1);
      });

    // The terminal is gone: writing to it fails (EIO), which must not end the daemon before its runs
    // are recorded. Log lines are lost from here on; the state and /metrics keep the counts.
    function hangup(): void {
      process.stderr.on('error', () => {});
      shutdown('SIGHUP');
    }

    function shutdown(signal: NodeJS.Signals): void {
      if (stopping) {
        forceExit(`a second ${signal}`);
        return;
      }
      stopping = true;
      const graceSeconds = loaded.config.daemon.shutdownGraceSeconds;
      log.info({ signal, graceSeconds, running: runner.running() }, 'shutting down: no new runs; in-flight requests may finish');
      scheduler.stop();
      // Takes no more fleet jobs from now on (the runs going on finish first, and complete their jobs).
      const leaving = fleet
        ?.leave()
        .catch((error: unknown) => log.warn({ err: error }, 'could not leave the fleet cleanly: the others see this member as gone shortly'));
      runner.abortAll();
      const graceEnds = Date.now() + graceSeconds * 1000;
      const grace = setTimeout(() => forceExit(`the shutdown grace period (${graceSeconds}s) ran out`), graceSeconds * 1000);
      void (async () => {
        await Promise.allSettled(services.map((service) => service.close()));
        await runner.idle();
        await leaving;
        await budgets?.close().catch((error: unknown) => log.warn({ err: error }, 'could not close the fleet budgets cleanly'));
        clearTimeout(grace);
        // The last runs' alerts, within what is left of the grace period: a slow endpoint never turns a clean stop into a forced one.
        if (!(await alerts.settled(graceEnds - Date.now()))) log.warn({ alerts: alerts.inFlight }, 'stopping without waiting for alerts still on their way');
        await closeServer();
        state.close();
        detach();
        log.info('daemon stopped');
        resolve(0);
      })();
    }
  });
}
