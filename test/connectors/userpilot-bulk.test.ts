// Userpilot's bulk identify through the CLI against its emulator: the exact bulk bodies, records
// committed only once their background job reports completed, a failed job leaving every record due,
// a job that outlives the run settled by the next one (never sent twice), SIGKILL while a job is
// pending, a batch refused whole split down to the refused user, and the rate limit held with polls,
// also at the vendor when a bulk request leaves late.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSync } from '../../src/engine/sync.js';
import { spawnCli, workspaceFor } from '../helpers/index.js';
import { batchItem } from '../../src/delivery/batches.js';
import { ABSORBED_TRANSIT_MS, expectPaced, PROMISED_SPAN_MS, recordPacing, shortestSpan } from '../helpers/pacing.js';
import type { ReceivedRequest } from '../../sandbox/http-emulator.js';
import { UserpilotEmulator, userpilotFault } from '../../sandbox/userpilot.js';
import { people, setup, type DestinationCase } from './destination-suite.js';

const KEY = 'upk_7Hq2-secret-token';

const bulkCase = (batch: string): DestinationCase<UserpilotEmulator> => ({
  type: 'userpilot',
  emulator: () => new UserpilotEmulator([KEY]),
  settings: (url) => ({ environment: 'analytex-eu', apiKey: '${USERPILOT_KEY}', baseUrl: url, batch }),
  env: { USERPILOT_KEY: KEY },
  secrets: [KEY],
  mapping: ['user_id: id', 'metadata.name: name', 'metadata.plan: plan', 'company.company_id: company_id'],
  keyOf: (body) => String(body.user_id),
  invalid: { change: { company_id: null }, reason: 'company.company_id: required' },
  rejection: { fault: userpilotFault(400, { error: 'Bad Request', error_code: 'X', message: 'refused' }), reason: 'refused' },
  refuse: (emulator) => void emulator.validKeys.splice(0),
  refusal: 'HTTP 401: Unauthorized - Invalid API key (UNAUTHORIZED)',
  passing: [],
});

const userIds = (body: { users: Record<string, unknown>[] }) => body.users.map((user) => String(user.user_id));
const polls = (emulator: UserpilotEmulator) => emulator.received.filter((request) => request.path.startsWith('/v1/background_jobs/'));
const statusOf = async (cli: (...args: string[]) => Promise<{ stdout: string }>) => JSON.parse((await cli('status', '--json')).stdout).syncs[0];

describe('Userpilot bulk identify', () => {
  it('sends {users: [...]} in bulk requests and commits the records only once their job reports completed', async () => {
    const { emulator, cli } = await setup(bulkCase('{ size: 4 }'));
    emulator.readsPerJob = 3;

    const result = await cli('sync');
    expect(result.code).toBe(0);
    const bodies = emulator.bulkBodies.map(userIds).sort((a, b) => Number(a[0]) - Number(b[0]));
    expect(bodies).toEqual([
      ['1', '2', '3', '4'],
      ['5', '6', '7', '8'],
      ['9', '10'],
    ]);
    const first = emulator.bulkBodies.find((body) => body.users[0].user_id === '1')!;
    expect(first.users[0]).toEqual({ user_id: '1', company_id: 'co-1', metadata: { name: 'User 1', plan: 'free' } });
    expect(emulator.received.find((request) => request.path === '/v1/users/bulk_identify')!.headers['x-api-version']).toBe('2020-09-22');
    // Each job read until completed: three reads each.
    expect(polls(emulator)).toHaveLength(9);
    expect([...emulator.jobs.values()].map((job) => job.status)).toEqual(['completed', 'completed', 'completed']);
    expect(emulator.users.size).toBe(10);
    expect(await statusOf(cli)).toMatchObject({ records: 10, lastRun: { outcome: 'success', counts: { sent: 10 } } });
  });

  it('leaves every record of a failed job due, and sends them again next run', async () => {
    const { emulator, cli } = await setup(bulkCase('{}'));
    emulator.failJobs = true;

    const first = await cli('sync');
    expect(first.code).toBe(3);
    expect(first.stdout).toContain('background job job_1 failed: Job failed while processing rows');
    expect(emulator.users.size).toBe(0);
    expect(await statusOf(cli)).toMatchObject({ records: 0, lastRun: { outcome: 'partial', counts: { failed: 10 } } });

    emulator.failJobs = false;
    expect((await cli('sync')).code).toBe(0);
    expect(emulator.bulkBodies.map(userIds)).toHaveLength(2);
    expect(emulator.bulkBodies[1].users).toHaveLength(10);
    expect(emulator.users.size).toBe(10);
    expect(await statusOf(cli)).toMatchObject({ records: 10 });
  });

  it('leaves a job still running at the end of the run to the next run: nothing committed, nothing sent twice', async () => {
    const { emulator, cli } = await setup(bulkCase('{ waitSeconds: 1 }'));
    emulator.holdJobs = true;

    expect((await cli('sync')).code).toBe(0);
    expect(emulator.bulkBodies).toHaveLength(1);
    expect(await statusOf(cli)).toMatchObject({ records: 0, lastRun: { counts: { pending: 10, sent: 0 } } });

    // Still running: the next run reads the job again and sends none of its records.
    expect((await cli('sync')).code).toBe(0);
    expect(emulator.bulkBodies).toHaveLength(1);
    expect(await statusOf(cli)).toMatchObject({ records: 0, lastRun: { counts: { pending: 10 } } });

    emulator.releaseJobs();
    expect((await cli('sync')).code).toBe(0);
    expect(emulator.bulkBodies).toHaveLength(1);
    expect(emulator.users.size).toBe(10);
    expect(await statusOf(cli)).toMatchObject({ records: 10, lastRun: { outcome: 'success', counts: { sent: 10, pending: 0 } } });
  });

  it('loses nothing and commits nothing early when killed with SIGKILL while a job is pending', async () => {
    const { emulator, cli, dir } = await setup(bulkCase('{}'));
    emulator.holdJobs = true;

    const child = spawnCli(['--config', path.join(dir, 'backflow.yaml'), 'sync'], { env: { ...process.env, USERPILOT_KEY: KEY } });
    const closed = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_code, signal) => resolve(signal)));
    emulator.onRequest = (request: ReceivedRequest) => {
      if (request.path.startsWith('/v1/background_jobs/')) child.kill('SIGKILL');
    };
    expect(await closed).toBe('SIGKILL');
    emulator.onRequest = undefined;
    await emulator.idle();
    expect(await statusOf(cli)).toMatchObject({ records: 0 });

    emulator.releaseJobs();
    expect((await cli('sync')).code).toBe(0);
    expect(emulator.bulkBodies).toHaveLength(1);
    expect(emulator.users.size).toBe(10);
    expect(await statusOf(cli)).toMatchObject({ records: 10 });
  });

  it('splits a bulk request Userpilot refuses whole down to the refused user; the others go through their jobs', async () => {
    const { emulator, cli } = await setup(bulkCase('{}'));
    const carries3 = (request: ReceivedRequest) =>
      request.path === '/v1/users/bulk_identify' && userIds(request.body as { users: Record<string, unknown>[] }).includes('3');
    emulator.inject(userpilotFault(400, { error: 'Bad Request', error_code: 'INVALID_USER', message: 'user 3 is blocked' }), 100, carries3);

    const result = await cli('sync');
    expect(result.code).toBe(3);
    expect(result.stdout).toContain('✗ 3: HTTP 400: user 3 is blocked (INVALID_USER)');
    expect([...emulator.users.keys()].sort((a, b) => Number(a) - Number(b))).toEqual(['1', '2', '4', '5', '6', '7', '8', '9', '10']);
    expect(await statusOf(cli)).toMatchObject({ records: 9, lastRun: { counts: { sent: 9, rejected: 1 } } });
  });

  it('holds the rate limit with job polls counted as requests', async () => {
    const { emulator, dir } = await setup(bulkCase('{ size: 10 }'), { rows: people(50), requestsPerSecond: 5 });
    emulator.readsPerJob = 2;
    const workspace = workspaceFor(fs.readFileSync(path.join(dir, 'backflow.yaml'), 'utf8'), dir, { USERPILOT_KEY: KEY });
    const sync = workspace.syncNamed('people');
    const pacing = recordPacing(workspace.destination(sync).limiter);

    const summary = await runSync(workspace, sync);
    expect(summary).toMatchObject({ outcome: 'success', counts: { sent: 50 } });
    expect(emulator.bulkBodies).toHaveLength(5);
    expect(polls(emulator).length).toBeGreaterThanOrEqual(10);
    expectPaced(
      pacing,
      emulator.received.map((request) => request.at),
      5,
    );
    workspace.state.close();
  });

  it('holds the limit at the vendor when a bulk request leaves late: the event loop busy building the next batch while the next turn is due', async () => {
    const { emulator, dir } = await setup(bulkCase('{ size: 10 }'), { rows: people(30), requestsPerSecond: 2 });
    emulator.readsPerJob = 1;
    const workspace = workspaceFor(fs.readFileSync(path.join(dir, 'backflow.yaml'), 'utf8'), dir, { USERPILOT_KEY: KEY });
    const sync = workspace.syncNamed('people');
    const destination = workspace.destination(sync);
    const { limiter, batching } = destination;
    const pacing = recordPacing(limiter);
    let itemsBuilt = 0;
    const onRelease = limiter.onRelease!;
    limiter.onRelease = (at) => {
      onRelease(at);
      if (pacing.releases.length !== 1) return;
      // Right after the first bulk request is made (its socket still to connect, its body still to
      // write), the event loop is held synchronously, as a large next batch being built holds it,
      // until the next turn is due and the lateness the margin absorbs has passed.
      process.nextTick(() => {
        const context = { sync: 'people', key: 'built', fingerprint: '', changedAt: '' };
        while (Date.now() <= at + limiter.intervalMs + ABSORBED_TRANSIT_MS) {
          batchItem(batching!, { user_id: String(itemsBuilt++), metadata: { name: 'User', plan: 'free' } }, context);
        }
      });
    };

    const summary = await runSync(workspace, sync);
    expect(summary).toMatchObject({ outcome: 'success', counts: { sent: 30 } });
    expect(itemsBuilt).toBeGreaterThan(0);
    // The scenario happened: the first request left after the second's turn was due.
    expect(pacing.departures[0] - pacing.releases[0]).toBeGreaterThan(limiter.intervalMs);
    // Three bulk requests and at least one read of each job: R+1 requests at the vendor, counted on
    // arrival, span more than a second with the product's margin left for the way there.
    const arrivals = emulator.received.map((request) => request.at);
    expect(arrivals.length).toBeGreaterThanOrEqual(6);
    expect(shortestSpan(arrivals, 2), 'the shortest span of 3 requests at the vendor (ms)').toBeGreaterThanOrEqual(PROMISED_SPAN_MS - ABSORBED_TRANSIT_MS);
    expect(emulator.maxInWindow(1000)).toBeLessThanOrEqual(2);
    workspace.state.close();
  });

  it('plan counts bulk requests', async () => {
    const { cli } = await setup(bulkCase('{ size: 4 }'));
    const plan = await cli('plan', '--json');
    expect(JSON.parse(plan.stdout).syncs[0].requests).toBe(3);
  });

  it('sends one user per identify request unless batch is set', async () => {
    const { emulator, cli } = await setup({ ...bulkCase('x'), settings: (url) => ({ environment: 'analytex-eu', apiKey: '${USERPILOT_KEY}', baseUrl: url }) });
    expect((await cli('sync')).code).toBe(0);
    expect(emulator.received).toHaveLength(10);
    expect(emulator.received.every((request) => request.path === '/v1/identify')).toBe(true);
  });
});
