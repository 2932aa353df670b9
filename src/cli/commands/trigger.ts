// `backflow trigger`: asks the fleet (daemons sharing a PostgreSQL state) to run a sync now; with
// --wait, waits for whichever member ran it and exits as `backflow sync` would for that outcome.
import { UsageError } from '../../errors.js';
import { fleetPool } from '../../fleet/connect.js';
import { Dispatcher, type Finished } from '../../fleet/dispatch.js';
import { listMembers, memberExpiryMs } from '../../fleet/members.js';
import { load, type GlobalOptions } from '../context.js';
import { n, print, printError, printJson } from '../output.js';
import { fleetStateOf } from '../../fleet/state.js';

export interface TriggerCommandOptions extends GlobalOptions {
  sync: string;
  wait?: boolean;
}

/** The exit code `backflow sync` gives a run with this outcome; a skipped run (the sync was running elsewhere) is refused as `sync` refuses it. */
export function exitCodeForOutcome(outcome: string): number {
  if (outcome === 'success') return 0;
  if (outcome === 'partial') return 3;
  return 1;
}

export async function triggerCommand(options: TriggerCommandOptions): Promise<number> {
  const loaded = load(options, false);
  const fleet = fleetStateOf(loaded);
  if (!fleet) {
    throw new UsageError(
      `backflow trigger queues a run for a fleet of daemons, which needs a PostgreSQL state (state.url); this config keeps its state in a file (${loaded.statePath}): run backflow sync --sync ${options.sync} instead`,
    );
  }
  if (!loaded.config.syncs.some((sync) => sync.name === options.sync)) {
    throw new UsageError(`no sync named "${options.sync}": expected one of ${loaded.config.syncs.map((entry) => entry.name).join(', ')}`);
  }
  const db = fleetPool(fleet.url, fleet.schema);
  let dispatcher: Dispatcher | undefined;
  try {
    dispatcher = await Dispatcher.start({ url: fleet.url, stateSchema: fleet.schema, db });
    const job = await dispatcher.trigger(options.sync);
    if (!options.wait) {
      if (options.json) printJson({ sync: options.sync, job, state: 'queued' });
      else print(`Queued a run of ${options.sync} for the fleet: job ${job}`);
      return 0;
    }
    if (!options.json) printError(`Queued a run of ${options.sync} for the fleet (job ${job}); waiting for a member to run it…`);
    const expiryMs = memberExpiryMs(loaded.config.state.lockExpirySeconds * 1000);
    if (!(await listMembers(db, expiryMs)).some((member) => !member.gone)) {
      printError('No daemon is running on this state right now: the run starts when one does (backflow daemon with this config).');
    }
    const finished = await dispatcher.waitFor(options.sync, job);
    report(options, job, finished);
    return finished.state === 'completed' ? exitCodeForOutcome(finished.result.outcome) : 1;
  } finally {
    await dispatcher?.stop();
    await db.end();
  }
}

function report(options: TriggerCommandOptions, job: string, finished: Finished): void {
  if (options.json) {
    printJson(
      finished.state === 'completed'
        ? { sync: options.sync, job, state: 'completed', ...finished.result }
        : { sync: options.sync, job, state: finished.state, error: finished.error },
    );
    return;
  }
  if (finished.state !== 'completed') {
    print(`Sync ${options.sync}: the job ${finished.state} (job ${job}): ${finished.error}`);
    return;
  }
  const { outcome, runId, counts, error, reason } = finished.result;
  if (outcome === 'skipped') {
    print(`Sync ${options.sync}: skipped (${reason ?? 'not run'}) (job ${job})${error ? `: ${error}` : ''}`);
    return;
  }
  const count = (key: string) => n(counts[key] ?? 0);
  print(`Sync ${options.sync}: ${outcome} (run ${runId}, job ${job})`);
  print(
    `  read ${count('read')}  sent ${count('sent')}  rejected ${count('rejected')}  failed ${count('failed')}  unchanged ${count('unchanged')}  invalid ${count('invalid')}  removed ${count('removed')}`,
  );
  if (error) print(`  ${error}`);
}
