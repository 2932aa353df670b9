// The help of every subcommand: the global options (--config, --json) listed with its own, then
// examples and its exit codes, as README's "Commands and exit codes" table has them.
import type { Command } from 'commander';

interface CommandHelp {
  examples: string[];
  exitCodes: string[];
}

const HELP: Record<string, CommandHelp> = {
  init: {
    examples: [
      'backflow init --source postgres --destination vitally,userpilot',
      'backflow init -c config/backflow.yaml --source sqlite --destination gamifyhost',
    ],
    exitCodes: ['0  the starter config was written', '1  the file exists (it is never overwritten) or an unknown type'],
  },
  validate: {
    examples: ['backflow validate', 'backflow validate --connect -c prod.yaml', 'backflow validate --json'],
    exitCodes: ['0  valid', '1  problems (each as file:line:column)'],
  },
  plan: {
    examples: ['backflow plan', 'backflow plan --sync users --show 50', "backflow plan --select 'users-*' --out plan.json", 'backflow plan --json'],
    exitCodes: ['0  nothing to send', '2  the plan would send something', '1  error'],
  },
  sync: {
    examples: ['backflow sync', 'backflow sync --sync users,accounts --full', 'backflow sync --plan plan.json', 'backflow sync --json -c prod.yaml'],
    exitCodes: [
      '0  every record confirmed',
      '3  partial: some rejected or failed, the rest sent',
      '1  stopped (401/403), failed or interrupted',
      '130/143  stopped by Ctrl-C (SIGINT) / SIGTERM',
    ],
  },
  sandbox: {
    examples: ['backflow sandbox', 'backflow sandbox -- sync --sync users --full', 'backflow sandbox -- plan', 'backflow --json sandbox -- sync'],
    exitCodes: ["the command's (sync: 0, 3, 1, 130, 143; plan: 0, 2; daemon: 0, 1)", '1  invalid config, or not sync, plan or daemon'],
  },
  daemon: {
    examples: ['backflow daemon -c /etc/backflow/backflow.yaml'],
    exitCodes: ['0  clean stop (SIGTERM, SIGINT, or SIGHUP when started from a terminal)', '1  forced stop, or it could not start'],
  },
  trigger: {
    examples: ['backflow trigger --sync users', 'backflow trigger --sync users --wait', 'backflow trigger --sync users --wait --json'],
    exitCodes: [
      '0  queued (without --wait), or the run sent every record',
      '3  --wait: partial, some rejected or failed, the rest sent',
      '1  --wait: stopped, failed, interrupted or skipped (already running); or no PostgreSQL state (state.url)',
    ],
  },
  ingest: { examples: ['backflow ingest'], exitCodes: ['0  clean stop', '1  it could not start'] },
  test: {
    examples: ['backflow alert test', 'backflow alert test --alert oncall --json'],
    exitCodes: ['0  every message delivered', '1  one was not'],
  },
  status: { examples: ['backflow status', 'backflow status --json'], exitCodes: ['0  shown', '1  invalid config or unusable state'] },
  runs: {
    examples: ['backflow runs', 'backflow runs --sync users --limit 5', 'backflow runs --json'],
    exitCodes: ['0  shown', '1  unknown sync, invalid config or unusable state'],
  },
  rejected: {
    examples: ['backflow rejected', 'backflow rejected --sync users --json'],
    exitCodes: ['0  shown', '1  unknown sync, invalid config or unusable state'],
  },
  reset: {
    examples: ['backflow reset --sync users', 'backflow reset --sync users --yes   # no question (scripts, CI)'],
    exitCodes: ['0  forgotten', '1  not confirmed, no --yes without a terminal, the sync is running, or an unknown sync'],
  },
  unlock: {
    examples: ['backflow unlock --sync users', 'backflow unlock --sync users --force'],
    exitCodes: ['0  removed (or there was no lock)', '1  refused: the holder looks alive'],
  },
  copy: {
    examples: [
      'backflow state copy --to postgres://backflow@db.internal:5432/backflow',
      'backflow state copy --to postgres://backflow@db.internal:5432/backflow --schema backflow_prod --json',
      'backflow state copy --to ./.backflow/state.db   # from PostgreSQL back to a file',
    ],
    exitCodes: ['0  copied', '1  refused (the target holds state, a sync is running) or the target cannot be used; nothing was written'],
  },
};

/** Adds the examples and exit codes to each subcommand's help, and lists --config and --json there. */
export function addCommandHelp(program: Command): void {
  const visit = (command: Command) => {
    for (const sub of command.commands) {
      // Set on each: commander copies help settings to a subcommand only when it is created.
      sub.configureHelp({ ...sub.configureHelp(), showGlobalOptions: true });
      const help = HELP[sub.name()];
      if (help) {
        const examples = help.examples.map((line) => `  $ ${line}`).join('\n');
        const exitCodes = help.exitCodes.map((line) => `  ${line}`).join('\n');
        sub.addHelpText('after', `\nExamples:\n${examples}\n\nExit codes:\n${exitCodes}`);
      }
      visit(sub);
    }
  };
  visit(program);
}
