#!/usr/bin/env node
// The `backflow` command line: parses arguments, runs a command, and alone decides the exit code.
import { Command, InvalidArgumentError } from 'commander';
import { BackflowError, ConfigError, formatIssue } from '../errors.js';
import { dropOutputWhenStdoutCloses, printError, printJson } from './output.js';
import { addCommandHelp } from './help.js';
import { packageVersion } from './version.js';

function positiveInt(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw new InvalidArgumentError('expected a whole number');
  return number;
}

/** Collects a repeatable option; each value may list several, comma-separated (`--sync a,b --sync c`). */
function list(value: string, previous: string[] = []): string[] {
  return [
    ...previous,
    ...value
      .split(',')
      .map((part) => part.trim())
      .filter(Boolean),
  ];
}

/** Collects a repeatable option as is (a glob may hold commas: 'users-{eu,us}'). */
function repeat(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function buildProgram(run: (work: () => Promise<number>, json: boolean) => Promise<void>): Command {
  const program = new Command('backflow')
    .description('Keep SaaS tools in sync with your warehouse: declarative, diffed, at-least-once.')
    .option('-c, --config <file>', 'config file', process.env.BACKFLOW_CONFIG ?? 'backflow.yaml')
    .option('--json', 'machine-readable output')
    .version(packageVersion(), '-V, --version', 'print the version of backflow-etl')
    .showHelpAfterError()
    .exitOverride();

  const globals = () => program.opts<{ config: string; json?: boolean }>();
  const action =
    <T>(command: (options: T) => Promise<number>) =>
    (options: object) =>
      run(() => command({ ...globals(), ...options } as T), Boolean(globals().json));

  program
    .command('init')
    .description('write a starter config (to --config, default backflow.yaml) for a source and destinations; never overwrites')
    .requiredOption('--source <type>', 'postgres, mysql, sqlite or duckdb')
    .requiredOption(
      '--destination <types>',
      'destination types (repeat, or comma-separate): gamifyhost, appizer, vitally, userpilot, formbricks, segment',
      list,
    )
    .action(action(async (options) => (await import('./commands/init.js')).initCommand(options as never)));

  program
    .command('validate')
    .description('check the config: schema, env vars, references, cron syntax')
    .option('--connect', 'also open each source and run each query without reading rows')
    .action(action(async (options) => (await import('./commands/validate.js')).validateCommand(options as never)));

  program
    .command('plan')
    .description('dry-run diff: what a sync would send; exit 2 when it would send anything')
    .option('-s, --sync <names>', 'only these syncs (repeat, or comma-separate)', list)
    .option('--select <pattern>', "only syncs whose name matches this glob, e.g. 'users-*' (repeatable)", repeat)
    .option('--out <file>', 'save the plan for sync --plan')
    .option('--show <n>', 'records to list with their diffs', positiveInt, 20)
    .option('--full', 'plan a full read, ignoring the incremental cursor')
    .action(action(async (options) => (await import('./commands/plan.js')).planCommand(options as never)));

  program
    .command('sync')
    .description('send what changed now')
    .option('-s, --sync <names>', 'only these syncs (repeat, or comma-separate)', list)
    .option('--select <pattern>', "only syncs whose name matches this glob, e.g. 'users-*' (repeatable)", repeat)
    .option('--full', 'read every row, ignoring the incremental cursor')
    .option('--plan <file>', 'send exactly a saved plan (refused if the state or config changed)')
    .option('--dbt-run-results <file>', "after a dbt job: run only the syncs whose dbt models it built successfully (dbt's target/run_results.json)")
    .action(action(async (options) => (await import('./commands/sync.js')).syncCommand(options as never)));

  program
    .command('daemon')
    .description('run every sync on its schedule; serve /healthz, /readyz and /metrics; stop cleanly on SIGTERM')
    .action(action(async (options) => (await import('./commands/daemon.js')).daemonCommand(options as never)));

  program
    .command('trigger')
    .description('fleet mode (state.url): queue a run of a sync for whichever daemon is free; --wait exits as sync would')
    .requiredOption('-s, --sync <name>', 'the sync to run')
    .option('--wait', 'wait for the run and exit with its outcome (0, 3 or 1, as sync)')
    .action(action(async (options) => (await import('./commands/trigger.js')).triggerCommand(options as never)));

  program
    .command('sandbox')
    .description('run sync (default), plan or daemon on your config against local emulators of its destinations: no real vendor, no API key, a fresh state')
    .argument('[command...]', 'the command to run and its options, after --: e.g. -- sync --full')
    .allowUnknownOption()
    .action((args: string[]) => run(async () => (await import('./commands/sandbox.js')).sandboxCommand({ ...globals(), args }), Boolean(globals().json)));

  program
    .command('ingest')
    .description("serve only the Segment-compatible endpoints of the config's segment sources, until SIGINT/SIGTERM")
    .action(action(async (options) => (await import('./commands/ingest.js')).ingestCommand(options as never)));

  program
    .command('alert')
    .description('alert tools')
    .command('test')
    .description('send a sample message to an alert (or to each) and report what the endpoint answered; exit 1 when one was not delivered')
    .option('-a, --alert <name>', 'only this alert')
    .action(action(async (options) => (await import('./commands/alert.js')).alertTestCommand(options as never)));

  const inspect = () => import('./commands/inspect.js');
  program
    .command('status')
    .description('last run of each sync')
    .action(action(async (options) => (await inspect()).statusCommand(options as never)));
  program
    .command('runs')
    .description('run history')
    .option('-s, --sync <name>', 'only this sync')
    .option('--run <id>', 'only this run', positiveInt)
    .option('--limit <n>', 'how many runs', positiveInt, 20)
    .option('--offset <n>', 'skip this many newer runs (paging)', positiveInt, 0)
    .option('--issues-limit <n>', 'with --json: issues listed per run (issueCount has them all)', positiveInt, 100)
    .option('--issues-offset <n>', 'with --json: skip this many issues of each run (paging)', positiveInt, 0)
    .action(action(async (options) => (await inspect()).runsCommand(options as never)));
  program
    .command('rejected')
    .description('records the destination rejected, with its reason; each is retried next run')
    .option('-s, --sync <name>', 'only this sync')
    .option('--limit <n>', 'how many', positiveInt, 100)
    .action(action(async (options) => (await inspect()).rejectedCommand(options as never)));
  program
    .command('reset')
    .description("forget a sync's state so the next run sends everything")
    .requiredOption('-s, --sync <name>', 'the sync to reset')
    .option('-y, --yes', 'do not ask for confirmation (needed when there is no terminal to ask on)')
    .action(action(async (options) => (await inspect()).resetCommand(options as never)));
  program
    .command('unlock')
    .description("remove a sync's lock whose holder is gone (its heartbeat expired, or its process died on this host); refused while the holder is alive")
    .requiredOption('-s, --sync <name>', 'the sync to unlock')
    .option('--force', 'remove the lock even though its holder seems alive (it stops at its next heartbeat)')
    .action(action(async (options) => (await inspect()).unlockCommand(options as never)));
  program
    .command('state')
    .description('the state itself')
    .command('copy')
    .description("copy the config's state into another, empty store (SQLite ⇄ PostgreSQL), so a switch re-sends nothing; refused while a sync runs")
    .requiredOption('--to <url|path>', 'a postgres:// URL, or a SQLite file path (relative to the current folder)')
    .option('--schema <name>', 'with a postgres:// target: its schema (default backflow)')
    .action(action(async (options) => (await import('./commands/state-copy.js')).stateCopyCommand(options as never)));
  addCommandHelp(program);
  return program;
}

async function main(argv: string[]): Promise<number> {
  let code = 0;
  const run = async (work: () => Promise<number>, json: boolean) => {
    try {
      code = await work();
    } catch (error) {
      code = 1;
      if (error instanceof ConfigError) {
        if (json) printJson({ error: 'invalid config', issues: error.issues });
        else for (const issue of error.issues) printError(formatIssue(issue));
      } else if (error instanceof BackflowError) {
        if (json) printJson({ error: error.message });
        else printError(`error: ${error.message}`);
      } else {
        if (json) printJson({ error: (error as Error).message });
        printError(`error: ${(error as Error).message}`);
        if (process.env.BACKFLOW_DEBUG) printError(String((error as Error).stack));
      }
    }
  };
  try {
    await buildProgram(run).parseAsync(argv);
  } catch (error) {
    const exitCode = (error as { exitCode?: number }).exitCode;
    // commander has already printed help or the usage error.
    return exitCode === 0 ? 0 : 1;
  }
  return code;
}

dropOutputWhenStdoutCloses();
process.exitCode = await main(process.argv);
