// `status`, `runs`, `rejected`, `reset` and `unlock`: reading and forgetting state, without
// connecting anywhere (so without the variables of sources, destinations and alerts).
import { UsageError } from '../../errors.js';
import { fleetPool } from '../../fleet/connect.js';
import { listMembers, memberExpiryMs, type MemberInfo } from '../../fleet/members.js';
import { fleetStateOf } from '../../fleet/state.js';
import type { Workspace } from '../../engine/workspace.js';
import { canAsk, confirm } from '../confirm.js';
import { withStateOnly, type GlobalOptions } from '../context.js';
import { n, print, printError, printJson, table } from '../output.js';
import { ago } from '../relative-time.js';

function counts(c: Record<string, number>, outcome?: string): string {
  if (outcome === 'reset') return `forgot ${n(c.forgotten ?? 0)} records`;
  return ['sent', 'rejected', 'failed', 'unchanged', 'invalid'].map((key) => `${key} ${n(c[key] ?? 0)}`).join(', ');
}

export async function statusCommand(options: GlobalOptions): Promise<number> {
  return withStateOnly(options, true, async (workspace) => {
    const last = new Map(workspace.state.lastRuns().map((run) => [run.sync, run]));
    const rows = workspace.config.syncs.map((sync) => ({
      sync: sync.name,
      destination: sync.destination,
      records: workspace.state.recordCount(sync.name),
      cursor: sync.cursor ? workspace.state.getCursor(sync.name) : null,
      lastRun: last.get(sync.name) ?? null,
    }));
    const members = await fleetMembers(workspace);
    if (options.json) {
      printJson({ syncs: rows, ...(members ? { members } : {}) });
      return 0;
    }
    print(
      table(
        ['SYNC', 'DESTINATION', 'RECORDS', 'LAST RUN', 'OUTCOME', 'COUNTS'],
        rows.map((row) => [
          row.sync,
          row.destination,
          n(row.records),
          row.lastRun ? ago(row.lastRun.startedAt) : 'never',
          row.lastRun?.outcome ?? '',
          row.lastRun ? counts(row.lastRun.counts, row.lastRun.outcome) : '',
        ]),
      ),
    );
    if (members) {
      print();
      print(
        members.length === 0
          ? 'No fleet members (no daemon runs on this state).'
          : table(['MEMBER', 'HOST', 'PID', 'STARTED', 'LAST SEEN', 'RUNNING'], members.map(memberRow)),
      );
    }
    return 0;
  });
}

/** The fleet's members when the state is PostgreSQL (undefined for a state file: there is no fleet). */
async function fleetMembers(workspace: Workspace): Promise<MemberInfo[] | undefined> {
  const fleet = fleetStateOf(workspace.loaded);
  if (!fleet) return undefined;
  const db = fleetPool(fleet.url, fleet.schema);
  try {
    return await listMembers(db, memberExpiryMs(workspace.config.state.lockExpirySeconds * 1000));
  } finally {
    await db.end();
  }
}

function memberRow(member: MemberInfo): string[] {
  const running = member.running.map((run) => (run.runId === null ? run.sync : `${run.sync} (run ${run.runId})`)).join(', ');
  return [
    member.id.slice(0, 8),
    member.host,
    String(member.pid),
    ago(member.startedAt),
    `${ago(member.lastSeen)}${member.gone ? ' (gone)' : ''}`,
    running || 'idle',
  ];
}

export interface RunsCommandOptions extends GlobalOptions {
  sync?: string;
  /** Only this run. */
  run?: number;
  limit: number;
  offset: number;
  issuesLimit: number;
  issuesOffset: number;
}

/** `runs`: a page of runs, newest first; with --json, each with a page of its issues and their total, so none is dropped unsaid. */
export async function runsCommand(options: RunsCommandOptions): Promise<number> {
  return withStateOnly(options, true, async (workspace) => {
    if (options.sync) workspace.syncNamed(options.sync);
    const { state } = workspace;
    const one = options.run === undefined ? undefined : state.run(options.run);
    const runs =
      options.run === undefined ? state.runs(options.sync, options.limit, options.offset) : one && (!options.sync || one.sync === options.sync) ? [one] : [];
    if (options.run !== undefined && runs.length === 0)
      throw new UsageError(`there is no run ${options.run}${options.sync ? ` of sync "${options.sync}"` : ''}: see backflow runs`);
    const total = options.run === undefined ? state.runCount(options.sync) : 1;
    const offset = options.run === undefined ? options.offset : 0;
    const nextRuns = offset + runs.length < total ? offset + runs.length : undefined;
    if (options.json) {
      printJson({
        total,
        offset,
        ...(nextRuns !== undefined ? { nextOffset: nextRuns } : {}),
        runs: runs.map((run) => {
          const issueCount = state.runIssueCount(run.id);
          const issues = state.runIssues(run.id, options.issuesLimit, options.issuesOffset);
          const nextIssues = options.issuesOffset + issues.length < issueCount ? options.issuesOffset + issues.length : undefined;
          return {
            ...run,
            issueCount,
            issuesOffset: options.issuesOffset,
            ...(nextIssues !== undefined ? { nextIssuesOffset: nextIssues } : {}),
            issues,
          };
        }),
      });
      return 0;
    }
    print(
      table(
        ['RUN', 'SYNC', 'STARTED', 'ENDED', 'OUTCOME', 'COUNTS', 'ERROR'],
        runs.map((run) => [run.id, run.sync, ago(run.startedAt), ago(run.endedAt), run.outcome, counts(run.counts, run.outcome), run.error]),
      ),
    );
    if (nextRuns !== undefined) print(`runs ${offset + 1}–${nextRuns} of ${total}; older ones: --offset ${nextRuns}`);
    return 0;
  });
}

export async function rejectedCommand(options: GlobalOptions & { sync?: string; limit: number }): Promise<number> {
  return withStateOnly(options, true, async (workspace) => {
    if (options.sync) workspace.syncNamed(options.sync);
    const rejections = workspace.state.rejections(options.sync, options.limit);
    if (options.json) {
      printJson({ rejected: rejections });
      return 0;
    }
    if (rejections.length === 0) {
      print('No rejected records.');
      return 0;
    }
    print(
      table(
        ['SYNC', 'KEY', 'STATUS', 'ATTEMPTS', 'LAST TRIED', 'REASON'],
        rejections.map((r) => [r.sync, r.key, r.status, n(r.attempts), ago(r.lastAt), r.reason]),
      ),
    );
    print('\nEach is retried on the next run.');
    return 0;
  });
}

/**
 * Forgets a sync's state. Asks first on a terminal (only "yes" confirms); without one it needs --yes,
 * as terraform destroy needs -auto-approve: nobody can be asked, so a script must say it means it.
 */
export async function resetCommand(options: GlobalOptions & { sync: string; yes?: boolean }): Promise<number> {
  return withStateOnly(options, false, async (workspace) => {
    workspace.syncNamed(options.sync);
    if (!options.yes) {
      const held = n(workspace.state.recordCount(options.sync));
      const what = `the ${held} records sync ${options.sync} has sent, its rejections and its cursor`;
      if (!canAsk()) throw new UsageError(`reset forgets ${what}: confirm with --yes (there is no terminal to ask on)`);
      if (!(await confirm(`Forget ${what}? The next run sends everything again.`))) {
        printError('Reset cancelled: nothing was changed.');
        return 1;
      }
    }
    workspace.state.acquireLock(options.sync, { expiryMs: workspace.config.state.lockExpirySeconds * 1000 });
    try {
      const { records, runId } = workspace.state.reset(options.sync);
      if (options.json) printJson({ sync: options.sync, forgotten: records, runId });
      else print(`Forgot ${n(records)} record${records === 1 ? '' : 's'} of sync ${options.sync} (run ${runId}): the next run sends everything again.`);
    } finally {
      workspace.state.releaseLock(options.sync);
    }
    return 0;
  });
}

export async function unlockCommand(options: GlobalOptions & { sync: string; force?: boolean }): Promise<number> {
  return withStateOnly(options, false, async (workspace) => {
    workspace.syncNamed(options.sync);
    const result = workspace.state.unlock(options.sync, { expiryMs: workspace.config.state.lockExpirySeconds * 1000, force: Boolean(options.force) });
    if (options.json) {
      // The holder as the lock row has it, in the public JSON's casing.
      const holder = result.removed && {
        pid: result.holder.pid,
        host: result.holder.host,
        acquiredAt: result.holder.acquired_at,
        heartbeatAt: result.holder.heartbeat_at,
      };
      printJson(holder ? { sync: options.sync, removed: true, holder, why: result.why } : { sync: options.sync, removed: false });
    } else if (result.removed) {
      print(`Removed the lock of sync ${options.sync}: ${result.why}. Its unfinished run is recorded as interrupted; the next run takes over.`);
    } else {
      print(`Sync ${options.sync} is not locked: nothing to do.`);
    }
    return 0;
  });
}
