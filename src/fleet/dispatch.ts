// Runs dispatched to the fleet through pg-boss, on the state's own PostgreSQL: each member sends its
// schedules' ticks (one job per tick for the whole fleet) and triggered runs, and any member's worker
// takes the next job of a sync and runs it. Ownership of a run is the sync's lock in the state, never
// pg-boss's job expiry: a job whose member is gone is found by the reaper and retried elsewhere.
import { setTimeout as delay } from 'node:timers/promises';
import PgBoss from 'pg-boss';
import type pg from 'pg';
import type { Logger } from '../log.js';
import { redact } from '../redact.js';
import { jobsSchemaFor, queueFor, tickJobId } from './ids.js';
import type { Member } from './members.js';

/** What a job ran: the run's outcome (or `skipped`, when another process held the sync), its id and counts. */
export interface RunResult {
  outcome: string;
  runId: number | null;
  counts: Record<string, number>;
  error?: string;
  /** Why nothing ran (a skipped job). */
  reason?: string;
}

/** A job's result as stored: the run's, and which member ran it. */
export type JobOutput = RunResult & { member: string };

export type JobKind = 'tick' | 'trigger';

interface JobData {
  sync: string;
  kind: JobKind;
  /** The scheduled instant a tick job stands for. */
  tick?: string;
}

/** A job a member's worker took, as its handler sees it. */
export interface DispatchedJob extends JobData {
  id: string;
  /** 0 the first time the job runs, then 1, 2… for each retry (after its member was gone). */
  attempt: number;
}

export interface JobContext {
  /** The run is recorded in the state as `runId` (shown by `backflow status`). */
  started(runId: number): void;
}

export type JobHandler = (job: DispatchedJob, context: JobContext) => Promise<RunResult>;

export type Finished = { state: 'completed'; result: JobOutput } | { state: 'failed' | 'cancelled'; error: string };

export interface DispatcherOptions {
  /** The state's PostgreSQL (pg-boss opens its own small pool on it). */
  url: string;
  stateSchema: string;
  /** A pool on the same database whose search_path is the state schema (the member tables). */
  db: pg.Pool;
  /** A member works jobs and reaps those of gone members; without one (the CLI) it only sends and waits. */
  member?: Member;
  log?: Logger;
  /** How often an idle worker asks for its sync's next job, and `waitFor` looks at its job (pg-boss 10 has no push). */
  pollMs?: number;
  /** How often this member looks for jobs whose member is gone. */
  reapEveryMs?: number;
}

/** Retries of a triggered job: each follows a member that died running it (a run's own failure completes the job). */
export const TRIGGER_RETRY_LIMIT = 3;
/**
 * pg-boss fails an active job after its expiry whatever its member does; ours is set to pg-boss's
 * maximum (just under a day) so that only the reaper decides, and a run longer than that is retried
 * elsewhere, which then finds the sync locked by its live holder.
 */
const JOB_EXPIRY_SECONDS = 24 * 60 * 60 - 1;
const DEFAULT_POLL_MS = 1000;
const DEFAULT_REAP_EVERY_MS = 5000;

export class Dispatcher {
  private readonly workers = new Map<string, { controller: AbortController; done: Promise<void> }>();
  private readonly queues = new Set<string>();
  private readonly pollMs: number;
  private reaper: NodeJS.Timeout | undefined;
  private reaping: Promise<unknown> | undefined;

  private constructor(
    private readonly boss: PgBoss,
    private readonly jobsSchema: string,
    private readonly options: DispatcherOptions,
  ) {
    this.pollMs = options.pollMs ?? DEFAULT_POLL_MS;
  }

  /**
   * Starts pg-boss in `<state schema>_jobs` (creating it on first use). Its own cron is left off: it
   * fires at most once a minute and our schedules have seconds; members send ticks themselves.
   */
  static async start(options: DispatcherOptions): Promise<Dispatcher> {
    const schema = jobsSchemaFor(options.stateSchema);
    const boss = new PgBoss({
      connectionString: options.url,
      schema,
      max: 3,
      application_name: 'backflow',
      schedule: false,
      // Maintenance (archiving finished jobs) is the members' work, not a short-lived CLI's.
      supervise: Boolean(options.member),
    });
    boss.on('error', (error) => options.log?.warn({ err: error }, 'job queue error (pg-boss)'));
    await boss.start();
    const dispatcher = new Dispatcher(boss, schema, options);
    if (options.member) {
      dispatcher.reaper = setInterval(() => void dispatcher.reapInBackground(), options.reapEveryMs ?? DEFAULT_REAP_EVERY_MS);
      dispatcher.reaper.unref();
    }
    return dispatcher;
  }

  /**
   * Sends the job for `sync`'s tick at `instant`. Every member ticking the same instant sends the
   * same job id, and pg-boss keeps the first: returns the id when this send queued it, null when
   * another member's did. A tick is not retried: a member that dies mid-run leaves the sync to the
   * next tick.
   */
  async tick(sync: string, instant: Date): Promise<string | null> {
    await this.ensureQueue(sync);
    const data: JobData = { sync, kind: 'tick', tick: instant.toISOString() };
    return this.boss.send(queueFor(sync), data, { id: tickJobId(sync, instant), retryLimit: 0, expireInSeconds: JOB_EXPIRY_SECONDS });
  }

  /** Queues a run of `sync` for whichever member is free; returns the job's id. */
  async trigger(sync: string): Promise<string> {
    await this.ensureQueue(sync);
    const data: JobData = { sync, kind: 'trigger' };
    const id = await this.boss.send(queueFor(sync), data, { retryLimit: TRIGGER_RETRY_LIMIT, retryDelay: 0, expireInSeconds: JOB_EXPIRY_SECONDS });
    if (!id) throw new Error(`could not queue a run of ${sync}: the job queue (schema ${this.jobsSchema}) refused it`);
    return id;
  }

  /** Resolves once the job is finished, through any retries after a member died running it. */
  async waitFor(sync: string, jobId: string, options: { signal?: AbortSignal } = {}): Promise<Finished> {
    for (;;) {
      const job = await this.boss.getJobById<JobData>(queueFor(sync), jobId, { includeArchive: true });
      if (!job)
        throw new Error(
          `job ${jobId} of sync ${sync} is not in the job queue (schema ${this.jobsSchema}): check the id, or it was deleted after its retention`,
        );
      if (job.state === 'completed') return { state: 'completed', result: job.output as JobOutput };
      if (job.state === 'failed' || job.state === 'cancelled') return { state: job.state, error: messageOf(job.output) ?? `the job ${job.state}` };
      await delay(this.pollMs, undefined, { signal: options.signal });
    }
  }

  /**
   * This member works the jobs of these syncs (replacing the previous list): one job at a time per
   * sync, so a member never runs a sync twice at once and the jobs of one sync spread over members.
   */
  async work(syncs: string[], handler: JobHandler): Promise<void> {
    const member = this.options.member;
    if (!member) throw new Error('only a fleet member works jobs');
    for (const [sync, worker] of this.workers) {
      if (syncs.includes(sync)) continue;
      worker.controller.abort();
      this.workers.delete(sync);
    }
    for (const sync of syncs) {
      if (this.workers.has(sync)) continue;
      await this.ensureQueue(sync);
      const controller = new AbortController();
      this.workers.set(sync, { controller, done: this.workLoop(sync, member, handler, controller.signal) });
    }
  }

  private async workLoop(sync: string, member: Member, handler: JobHandler, signal: AbortSignal): Promise<void> {
    const queue = queueFor(sync);
    while (!signal.aborted) {
      // pg-boss's fetch answers [] on its own errors (a lost connection): the loop asks again later.
      const [job] = await this.boss.fetch<JobData>(queue, { includeMetadata: true });
      if (job) await this.runJob(queue, job, member, handler);
      else await delay(this.pollMs, undefined, { signal, ref: false }).catch(() => {});
    }
  }

  private async runJob(queue: string, job: PgBoss.JobWithMetadata<JobData>, member: Member, handler: JobHandler): Promise<void> {
    const { sync } = job.data;
    const log = this.options.log?.child({ sync, job: job.id });
    let output: JobOutput | undefined;
    let failure: string | undefined;
    try {
      // Claimed before the run starts: the reaper retries an active job only when no live member claims it.
      await member.runs(sync, job.id);
      const started = (runId: number) =>
        void member.runStarted(sync, runId).catch((error: unknown) => log?.warn({ err: error }, 'could not record the run id for status'));
      output = { ...(await handler({ ...job.data, id: job.id, attempt: job.retryCount }, { started })), member: member.id };
    } catch (error) {
      failure = redact((error as Error).message ?? String(error));
      log?.error({ err: error }, 'the job failed: it is retried if it has retries left');
    }
    try {
      const settled = await this.settle(queue, job.id, job.retryCount, output ? { output } : { failure: failure ?? 'unknown failure' });
      if (!settled) log?.warn('this job was given to another member meanwhile (this one was taken for gone): its result here is not recorded on the job');
    } catch (error) {
      log?.error({ err: error }, 'could not record the job as finished: the reaper retries it');
    }
    await member.finished(sync).catch((error: unknown) => log?.warn({ err: error }, 'could not clear this run from the member registry'));
  }

  /**
   * Completes or fails the job, only if it is still this attempt's (active, same retry count): a
   * member taken for gone (paused) that comes back never settles the retry another member runs.
   */
  private async settle(queue: string, id: string, attempt: number, end: { output: JobOutput } | { failure: string }): Promise<boolean> {
    return this.inTransaction(async (client, db) => {
      const { rowCount } = await client.query(
        `select 1 from ${this.jobsSchema}.job where name = $1 and id = $2 and state = 'active' and retry_count = $3 for update`,
        [queue, id, attempt],
      );
      if (!rowCount) return false;
      if ('output' in end) await this.boss.complete(queue, id, end.output, { db });
      else await this.boss.fail(queue, id, { message: end.failure }, { db });
      return true;
    });
  }

  /**
   * Fails the active jobs whose member is gone (its heartbeat expired, or it left without finishing
   * them): pg-boss retries a triggered one at once, on whichever member fetches it; a tick has no
   * retries and waits for the next tick. One member reaps at a time (a transaction-scoped advisory
   * lock). A job fetched moments ago may not be claimed yet: only jobs active for longer than the
   * member expiry are candidates. Returns how many jobs it failed.
   */
  async reap(): Promise<number> {
    const expiryMs = this.options.member?.expiryMs;
    if (expiryMs === undefined) throw new Error('only a fleet member reaps jobs');
    return this.inTransaction(async (client, db) => {
      const { rows: lock } = await client.query<{ got: boolean }>(`select pg_try_advisory_xact_lock(hashtext($1)) as got`, [`${this.jobsSchema}.reaper`]);
      if (!lock[0]?.got) return 0;
      const { rows } = await client.query<{ name: string; id: string; host: string | null; pid: number | null; last_seen: Date | null }>(
        `select j.name, j.id, m.host, m.pid, m.last_seen
         from ${this.jobsSchema}.job j
         left join member_runs r on r.job_id = j.id
         left join members m on m.id = r.member_id
         where j.state = 'active' and j.name like 'sync.%'
           and j.started_on < now() - $1 * interval '1 millisecond'
           and not exists (
             select 1 from member_runs live_run join members live on live.id = live_run.member_id
             where live_run.job_id = j.id and live.last_seen >= now() - $1 * interval '1 millisecond')`,
        [expiryMs],
      );
      for (const row of rows) {
        const who = row.host ? `member ${row.host} pid ${row.pid} (last seen ${row.last_seen?.toISOString()})` : 'a member that left without finishing it';
        await this.boss.fail(row.name, row.id, { message: `the job was running on ${who}, which is gone` }, { db });
        this.options.log?.warn(
          { queue: row.name, job: row.id, member: row.host ? { host: row.host, pid: row.pid } : undefined },
          'retrying a job whose member is gone',
        );
      }
      // Members gone for a day are forgotten (a member that comes back registers again).
      await client.query(`delete from members where last_seen < now() - interval '1 day'`);
      return rows.length;
    });
  }

  private async reapInBackground(): Promise<void> {
    if (this.reaping) return;
    this.reaping = this.reap()
      .catch((error: unknown) => this.options.log?.warn({ err: error }, 'could not look for jobs of gone members (tried again shortly)'))
      .finally(() => (this.reaping = undefined));
    await this.reaping;
  }

  /** Stops working (each sync's current job first finishes) and reaping, then pg-boss. */
  async stop(): Promise<void> {
    clearInterval(this.reaper);
    for (const worker of this.workers.values()) worker.controller.abort();
    await Promise.allSettled([...this.workers.values()].map((worker) => worker.done));
    this.workers.clear();
    await this.reaping;
    await this.boss.stop({ graceful: true, wait: true });
  }

  private async ensureQueue(sync: string): Promise<void> {
    const queue = queueFor(sync);
    if (this.queues.has(queue)) return;
    if (!(await this.boss.getQueue(queue))) {
      // Two members creating queues at once deadlock in pg-boss 10 (each attaches a partition to its
      // job table): one member at a time creates them, under a session advisory lock.
      const client = await this.options.db.connect();
      const key = `${this.jobsSchema}.create_queue`;
      try {
        await client.query('select pg_advisory_lock(hashtext($1))', [key]);
        try {
          await this.boss.createQueue(queue, { name: queue, policy: 'standard' });
        } finally {
          await client.query('select pg_advisory_unlock(hashtext($1))', [key]);
        }
      } finally {
        client.release();
      }
    }
    this.queues.add(queue);
  }

  private async inTransaction<T>(body: (client: pg.PoolClient, db: PgBoss.Db) => Promise<T>): Promise<T> {
    const client = await this.options.db.connect();
    try {
      await client.query('begin');
      const result = await body(client, { executeSql: (text, values) => client.query(text, values) });
      await client.query('commit');
      return result;
    } catch (error) {
      await client.query('rollback').catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }
}

function messageOf(output: unknown): string | undefined {
  const message =
    (output as { message?: unknown; value?: { message?: unknown } } | null)?.message ?? (output as { value?: { message?: unknown } } | null)?.value?.message;
  return typeof message === 'string' ? message : undefined;
}
