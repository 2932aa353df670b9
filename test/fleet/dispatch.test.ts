// Fleet dispatch against the real PostgreSQL and the real pg-boss: ticks deduplicated across
// members, jobs spread over members, a member SIGKILLed mid-job (its triggered job runs again
// elsewhere), a paused member's late result never overwriting the retry's, and the member registry.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import path from 'node:path';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { Dispatcher, type DispatchedJob, type JobHandler, type RunResult } from '../../src/fleet/dispatch.js';
import { jobsSchemaFor, queueFor, tickJobId } from '../../src/fleet/ids.js';
import { listMembers, Member, MEMBERS_DDL } from '../../src/fleet/members.js';
import { REPO, waitUntil } from '../helpers/index.js';

const PG_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** A fresh state schema with the member tables, and everything the test starts on it, undone at its end (last started, first stopped). */
async function fleet() {
  const schema = `fleet_${randomBytes(5).toString('hex')}`;
  const cleanups: (() => Promise<unknown>)[] = [];
  const admin = new pg.Pool({ connectionString: PG_URL, max: 2 });
  cleanups.push(async () => {
    await admin.query(`drop schema if exists ${schema} cascade; drop schema if exists ${jobsSchemaFor(schema)} cascade`);
    await admin.end();
  });
  onTestFinished(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  await admin.query(`create schema ${schema}`);
  const db = new pg.Pool({ connectionString: PG_URL, options: `-c search_path=${schema}`, max: 4 });
  cleanups.push(() => db.end());
  await db.query(MEMBERS_DDL);

  const member = async (expiryMs = 60_000) => {
    const registered = await Member.register(db, { expiryMs });
    cleanups.push(() => registered.deregister());
    return registered;
  };
  const dispatcher = async (options: { member?: Member; reapEveryMs?: number } = {}) => {
    const started = await Dispatcher.start({ url: PG_URL, stateSchema: schema, db, pollMs: 100, ...options });
    cleanups.push(() => started.stop());
    return started;
  };
  const jobRows = (sync: string) =>
    admin.query<{ id: string; state: string; retry_count: number; output: unknown }>(
      `select id, state, retry_count, output from ${jobsSchemaFor(schema)}.job where name = $1`,
      [queueFor(sync)],
    );
  return { schema, db, admin, member, dispatcher, jobRows };
}

const ran = (job: DispatchedJob, outcome = 'success'): RunResult => ({ outcome, runId: 1, counts: { sent: job.attempt + 1 } });

/** A member in a child process whose handler never returns; SIGKILLed (and awaited) when the test ends if still alive. */
async function childMember(schema: string, sync: string, expiryMs: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO, 'test/fleet/member-child.ts')], {
    cwd: REPO,
    env: { ...process.env, FLEET_URL: PG_URL, FLEET_SCHEMA: schema, FLEET_SYNC: sync, FLEET_EXPIRY_MS: String(expiryMs) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = once(child, 'exit');
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const events: Record<string, unknown>[] = [];
  let output = '';
  let stderr = '';
  child.stderr.on('data', (chunk) => (stderr += chunk));
  child.stdout.on('data', (chunk: Buffer) => {
    output += chunk;
    const lines = output.split('\n');
    output = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) events.push(JSON.parse(line) as Record<string, unknown>);
  });
  const event = (name: string) =>
    waitUntil(`the child member's "${name}"`, () => {
      const found = events.find((entry) => entry.event === name);
      if (!found && child.exitCode !== null) throw new Error(`the child member exited (${child.exitCode}) before "${name}": ${stderr}`);
      return found;
    });
  return { child, exited, event };
}

describe('scheduled ticks', () => {
  it('queue one job per tick for the whole fleet, however many members send it', async () => {
    const { dispatcher, jobRows } = await fleet();
    const members = await Promise.all([dispatcher(), dispatcher(), dispatcher()]);
    const instant = new Date('2026-12-07T15:00:05.000Z');

    const sent = await Promise.all(members.map((member) => member.tick('users', instant)));
    const again = await members[1].tick('users', instant);

    expect(sent.filter((id) => id !== null)).toEqual([tickJobId('users', instant)]);
    expect(again).toBeNull();
    expect((await jobRows('users')).rows.map((row) => row.id)).toEqual([tickJobId('users', instant)]);

    // The next second is another tick, another job.
    expect(await members[2].tick('users', new Date('2026-12-07T15:00:06.000Z'))).toBe(tickJobId('users', new Date('2026-12-07T15:00:06.000Z')));
    expect((await jobRows('users')).rows).toHaveLength(2);
  });

  it('is not queued again once a member has run it', async () => {
    const { dispatcher, member, jobRows } = await fleet();
    const worker = await dispatcher({ member: await member() });
    const instant = new Date('2026-12-07T15:00:05.000Z');
    await worker.work(['users'], async (job) => ran(job));

    const id = await worker.tick('users', instant);
    await worker.waitFor('users', id!);
    expect(await worker.tick('users', instant)).toBeNull();
    expect((await jobRows('users')).rows.map((row) => row.state)).toEqual(['completed']);
  });
});

describe('workers', () => {
  it('run one job of a sync at a time on a member, and spread a sync’s jobs over the members', async () => {
    const { dispatcher, member } = await fleet();
    const taken: { member: string; job: string }[] = [];
    let running = 0;
    let mostAtOnce = 0;
    // Each job holds its member until both jobs are taken: one member alone could never take both.
    const handlerOf =
      (name: string): JobHandler =>
      async (job) => {
        running++;
        mostAtOnce = Math.max(mostAtOnce, running);
        taken.push({ member: name, job: job.id });
        await waitUntil('both jobs to be taken', () => taken.length === 2);
        running--;
        return ran(job);
      };
    const [a, b] = await Promise.all([member(), member()]);
    const first = await dispatcher({ member: a });
    const second = await dispatcher({ member: b });
    await first.work(['users'], handlerOf('a'));
    await second.work(['users'], handlerOf('b'));

    const ids = [await first.trigger('users'), await first.trigger('users')];
    const finished = await Promise.all(ids.map((id) => first.waitFor('users', id)));

    expect(taken.map((entry) => entry.member).sort()).toEqual(['a', 'b']);
    expect(finished.map((end) => (end.state === 'completed' ? end.result.member : end.state)).sort()).toEqual([a.id, b.id].sort());
    expect(mostAtOnce).toBe(2);
  });

  it('never run a sync twice at once on one member', async () => {
    const { dispatcher, member } = await fleet();
    let running = 0;
    const overlaps: number[] = [];
    const worker = await dispatcher({ member: await member() });
    await worker.work(['users'], async (job) => {
      running++;
      overlaps.push(running);
      await new Promise((resolve) => setImmediate(resolve));
      running--;
      return ran(job);
    });
    const ids = await Promise.all([worker.trigger('users'), worker.trigger('users'), worker.trigger('users')]);
    const finished = await Promise.all(ids.map((id) => worker.waitFor('users', id)));
    expect(finished.map((end) => end.state)).toEqual(['completed', 'completed', 'completed']);
    expect(overlaps).toEqual([1, 1, 1]);
  });

  it('complete a job with the run’s result, and waitFor returns it', async () => {
    const { dispatcher, member } = await fleet();
    const worker = await dispatcher({ member: await member() });
    const seen: DispatchedJob[] = [];
    await worker.work(['users'], async (job, context) => {
      seen.push(job);
      context.started(41);
      return { outcome: 'partial', runId: 41, counts: { sent: 3, rejected: 1 } };
    });
    const cli = await dispatcher();
    const id = await cli.trigger('users');
    const finished = await cli.waitFor('users', id);
    expect(finished).toEqual({ state: 'completed', result: { outcome: 'partial', runId: 41, counts: { sent: 3, rejected: 1 }, member: expect.any(String) } });
    expect(seen).toEqual([{ id, sync: 'users', kind: 'trigger', attempt: 0 }]);
  });
});

describe('a member that dies mid-job', () => {
  it('has its triggered job run again at once by another member, and waitFor returns that result', async () => {
    const { schema, dispatcher, member, jobRows } = await fleet();
    const expiryMs = 1500;
    const dying = await childMember(schema, 'users', expiryMs);
    await dying.event('ready');
    const cli = await dispatcher();
    const id = await cli.trigger('users');
    expect((await dying.event('running')).job).toBe(id);

    const survivor = await dispatcher({ member: await member(expiryMs), reapEveryMs: 200 });
    const retried: DispatchedJob[] = [];
    await survivor.work(['users'], async (job) => {
      retried.push(job);
      return ran(job);
    });
    dying.child.kill('SIGKILL');
    await dying.exited;

    const finished = await cli.waitFor('users', id);
    expect(finished).toEqual({ state: 'completed', result: { outcome: 'success', runId: 1, counts: { sent: 2 }, member: expect.any(String) } });
    expect(retried).toEqual([{ id, sync: 'users', kind: 'trigger', attempt: 1 }]);
    expect((await jobRows('users')).rows.map((row) => [row.state, row.retry_count])).toEqual([['completed', 1]]);
  });

  it('shows as gone in the registry, with what it was running', async () => {
    const { schema, db, dispatcher } = await fleet();
    const dying = await childMember(schema, 'users', 1000);
    const { member: childId } = await dying.event('ready');
    const id = await (await dispatcher()).trigger('users');
    await dying.event('running');

    const alive = await listMembers(db, 1000);
    expect(alive).toEqual([
      {
        id: childId,
        host: expect.any(String),
        pid: dying.child.pid,
        startedAt: expect.any(String),
        lastSeen: expect.any(String),
        gone: false,
        running: [{ sync: 'users', jobId: id, runId: null, since: expect.any(String) }],
      },
    ]);
    dying.child.kill('SIGKILL');
    await dying.exited;
    const gone = await waitUntil('the killed member to show as gone', async () => (await listMembers(db, 1000)).find((entry) => entry.gone));
    expect(gone).toMatchObject({ id: childId, pid: dying.child.pid, running: [{ sync: 'users', jobId: id }] });
  });
});

describe('a member taken for gone that comes back', () => {
  it('never settles the retry another member ran: the job keeps the retry’s result', async () => {
    const { admin, schema, dispatcher, member, jobRows } = await fleet();
    const paused = await member();
    const slow = await dispatcher({ member: paused });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let pausedRunning = false;
    let pausedDone = false;
    await slow.work(['users'], async (job) => {
      pausedRunning = true;
      await released;
      pausedDone = true;
      return ran(job, 'interrupted');
    });
    const id = await slow.trigger('users');
    await waitUntil('the first member to run the job', () => pausedRunning);
    // As a SIGSTOPped member looks to the others: its heartbeat and its job's start long past.
    await admin.query(`update ${schema}.members set last_seen = now() - interval '1 hour' where id = $1`, [paused.id]);
    await admin.query(`update ${jobsSchemaFor(schema)}.job set started_on = now() - interval '1 hour' where id = $1`, [id]);

    const other = await dispatcher({ member: await member(), reapEveryMs: 60_000 });
    await other.work(['users'], async (job) => ran(job));
    expect(await other.reap()).toBe(1);
    const finished = await other.waitFor('users', id);
    release();
    await waitUntil('the first member to finish its run', () => pausedDone);
    await slow.stop();

    expect(finished.state === 'completed' && finished.result.outcome).toBe('success');
    const [row] = (await jobRows('users')).rows;
    expect(row).toMatchObject({ state: 'completed', retry_count: 1, output: { outcome: 'success', counts: { sent: 2 } } });
  });
});

describe('the member registry', () => {
  it('lists each member with its host, pid and what it runs, heartbeats it, and forgets it on a clean stop', async () => {
    const { db, member } = await fleet();
    const first = await member(600);
    const second = await Member.register(db, { expiryMs: 600 });
    await first.runs('users', null);
    await first.runStarted('users', 12);

    const listed = await listMembers(db, 600);
    expect(listed.map((entry) => [entry.id, entry.pid, entry.gone])).toEqual([
      [first.id, process.pid, false],
      [second.id, process.pid, false],
    ]);
    expect(listed[0].running).toEqual([{ sync: 'users', jobId: null, runId: 12, since: expect.any(String) }]);
    const seen = listed[0].lastSeen;
    await waitUntil('a heartbeat', async () => (await listMembers(db, 600))[0].lastSeen > seen);

    await second.deregister();
    await first.finished('users');
    expect((await listMembers(db, 600)).map((entry) => [entry.id, entry.running])).toEqual([[first.id, []]]);
  });
});
