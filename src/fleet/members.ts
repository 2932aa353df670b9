// The fleet's member registry: each daemon process registers in the shared state, heartbeats on the
// server's clock, and says which syncs it is running; one whose heartbeat is older than the expiry is
// gone (its runs are taken up by the others, see dispatch.ts).
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type pg from 'pg';
import type { Logger } from '../log.js';
import { heartbeatIntervalMs } from '../state/locks.js';

/**
 * The registry's tables, created in the state schema (unqualified: the connection's search_path is
 * that schema). `member_runs` holds what each member runs now, with the dispatch job it came from:
 * the reaper reads it to find jobs whose member is gone.
 */
export const MEMBERS_DDL = `
create table if not exists members (
  id text primary key,
  host text not null,
  pid integer not null,
  started_at timestamptz not null default now(),
  last_seen timestamptz not null default now()
);
create table if not exists member_runs (
  member_id text not null references members (id) on delete cascade,
  sync text not null,
  job_id uuid,
  run_id bigint,
  started_at timestamptz not null default now(),
  primary key (member_id, sync)
);
create index if not exists member_runs_job on member_runs (job_id)`;

/**
 * Creates the registry's tables if they are missing. Members starting together would race in
 * `create table if not exists` (PostgreSQL reports a duplicate type): one at a time, under a
 * transaction-scoped advisory lock.
 */
export async function ensureMemberTables(db: pg.Pool): Promise<void> {
  const client = await db.connect();
  try {
    await client.query('begin');
    await client.query(`select pg_advisory_xact_lock(hashtext(current_schema() || '.members'))`);
    await client.query(MEMBERS_DDL);
    await client.query('commit');
  } catch (error) {
    await client.query('rollback').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/** A member that has not heartbeated for this long is gone, unless the caller says otherwise. */
export const DEFAULT_MEMBER_EXPIRY_MS = 30_000;

/**
 * A fleet's members are gone once their heartbeat is older than this: late enough that the sync
 * locks a gone member held have expired too (its last lock heartbeat came at most one member
 * heartbeat, a sixth of this, before its last sign of life), so the member that retries its job
 * can take the lock over.
 */
export function memberExpiryMs(lockExpiryMs: number): number {
  return Math.ceil(lockExpiryMs * 1.25);
}

/** What runs on a member now. */
export interface MemberRun {
  sync: string;
  /** The dispatch job the run came from (null: started outside dispatch). */
  jobId: string | null;
  /** The run's id in the state, once it is recorded (null before that, or when the run was skipped). */
  runId: number | null;
  since: string;
}

export interface MemberInfo {
  id: string;
  host: string;
  pid: number;
  startedAt: string;
  lastSeen: string;
  /** Its last heartbeat is older than the expiry: it stopped, was killed, or is paused. */
  gone: boolean;
  running: MemberRun[];
}

export interface MemberOptions {
  /** A member whose heartbeat is older than this is gone; heartbeats go six times per expiry. */
  expiryMs?: number;
  log?: Logger;
}

/** This process as a member of the fleet. */
export class Member {
  readonly id = randomUUID();
  readonly host = os.hostname();
  readonly pid = process.pid;
  readonly expiryMs: number;
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  private failing = false;

  private constructor(
    private readonly db: pg.Pool,
    options: MemberOptions,
    private readonly log: Logger | undefined,
  ) {
    this.expiryMs = options.expiryMs ?? DEFAULT_MEMBER_EXPIRY_MS;
  }

  /** Registers this process and starts its heartbeat (a timer that never keeps the process alive). */
  static async register(db: pg.Pool, options: MemberOptions = {}): Promise<Member> {
    const member = new Member(db, options, options.log);
    await member.heartbeat();
    member.timer = setInterval(() => void member.beat(), heartbeatIntervalMs(member.expiryMs));
    member.timer.unref();
    return member;
  }

  /** Records that this member is alive now (server clock); recreates its row if it was pruned meanwhile. */
  async heartbeat(): Promise<void> {
    await this.db.query(
      `insert into members (id, host, pid) values ($1, $2, $3)
       on conflict (id) do update set last_seen = now()`,
      [this.id, this.host, this.pid],
    );
  }

  /** One timer beat: never two at once (a slow server), a failure logged once until one succeeds. */
  private async beat(): Promise<void> {
    if (this.beating) return;
    this.beating = this.heartbeat()
      .then(() => {
        if (this.failing) this.log?.info('member heartbeat recorded again');
        this.failing = false;
      })
      .catch((error: unknown) => {
        if (!this.failing) this.log?.warn({ err: error }, 'member heartbeat failed: other members will see this one as gone if it goes on');
        this.failing = true;
      })
      .finally(() => (this.beating = undefined));
    await this.beating;
  }

  /** This member now runs `sync` for dispatch job `jobId` (or outside dispatch, with null). */
  async runs(sync: string, jobId: string | null): Promise<void> {
    await this.db.query(
      `insert into member_runs (member_id, sync, job_id) values ($1, $2, $3)
       on conflict (member_id, sync) do update set job_id = excluded.job_id, run_id = null, started_at = now()`,
      [this.id, sync, jobId],
    );
  }

  /** The run of `sync` here is recorded as run `runId`. */
  async runStarted(sync: string, runId: number): Promise<void> {
    await this.db.query('update member_runs set run_id = $3 where member_id = $1 and sync = $2', [this.id, sync, runId]);
  }

  /** This member no longer runs `sync`. */
  async finished(sync: string): Promise<void> {
    await this.db.query('delete from member_runs where member_id = $1 and sync = $2', [this.id, sync]);
  }

  /** Stops the heartbeat and removes this member (and what it ran) from the registry: a clean stop. */
  async deregister(): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
    await this.db.query('delete from members where id = $1', [this.id]);
  }
}

interface MemberRow {
  id: string;
  host: string;
  pid: number;
  started_at: Date;
  last_seen: Date;
  gone: boolean;
  running: { sync: string; job_id: string | null; run_id: string | number | null; started_at: string }[];
}

/** Every registered member, the longest-running first, with what each runs (for `backflow status`). */
export async function listMembers(db: pg.Pool, expiryMs: number = DEFAULT_MEMBER_EXPIRY_MS): Promise<MemberInfo[]> {
  // No daemon has joined this state yet: no registry, no members.
  const { rows: registry } = await db.query<{ found: boolean }>(`select to_regclass('members') is not null as found`);
  if (!registry[0]?.found) return [];
  const { rows } = await db.query<MemberRow>(
    `select m.id, m.host, m.pid, m.started_at, m.last_seen,
            m.last_seen < now() - $1 * interval '1 millisecond' as gone,
            coalesce(json_agg(json_build_object('sync', r.sync, 'job_id', r.job_id, 'run_id', r.run_id, 'started_at', r.started_at)
                              order by r.sync) filter (where r.sync is not null), '[]') as running
     from members m left join member_runs r on r.member_id = m.id
     group by m.id
     order by m.started_at, m.id`,
    [expiryMs],
  );
  return rows.map((row) => ({
    id: row.id,
    host: row.host,
    pid: row.pid,
    startedAt: row.started_at.toISOString(),
    lastSeen: row.last_seen.toISOString(),
    gone: row.gone,
    running: row.running.map((run) => ({
      sync: run.sync,
      jobId: run.job_id,
      runId: run.run_id === null ? null : Number(run.run_id),
      since: new Date(run.started_at).toISOString(),
    })),
  }));
}
