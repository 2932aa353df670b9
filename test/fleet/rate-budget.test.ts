// The fleet's shared rate budget and concurrency (src/fleet): two member processes on one PostgreSQL
// state sending to one vendor that enforces a hard sliding-window limit, a 429 with Retry-After
// pausing both, slots shared and given back when a member is killed, and the run's lock fencing.
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FleetBudgets } from '../../src/fleet/budgets.js';
import { LockLostError } from '../../src/fleet/lock-lost.js';
import { HttpEmulator, headerOf, type ReceivedRequest } from '../../sandbox/http-emulator.js';
import { SlidingWindow } from '../../sandbox/rate-window.js';
import { freshSchema, memberConnection, POSTGRES_URL, startMember } from './members.js';

/** A vendor answering 200, or 429 once a sliding second already holds `limit` requests. */
async function limitedVendor(limit: number) {
  const window = new SlidingWindow(limit, 1000);
  const emulator = new HttpEmulator((request) =>
    window.take(request.at) ? { status: 200, body: { ok: true } } : { status: 429, headers: { 'retry-after': '1' } },
  );
  const url = await emulator.start();
  onTestFinished(() => emulator.stop());
  return { emulator, url };
}

const from = (member: string) => (request: ReceivedRequest) => headerOf(request, 'x-member') === member;
const statusesOf = (line: string) => (JSON.parse(line.slice('done '.length)) as { statuses: Record<string, number> }).statuses;

describe('two members sharing a destination at a hard sliding-window limit', () => {
  it('get no 429 and at least 90 percent of the limit together', async () => {
    const schema = await freshSchema();
    const rate = 25;
    const { emulator, url } = await limitedVendor(rate);
    // 10 seconds' worth in all, half each, several requests in flight per member.
    const count = 5 * rate;
    const members = await Promise.all(
      ['a', 'b'].map((name) => startMember({ schema, name, mode: 'send', url, requestsPerSecond: rate, concurrency: 8, count, workers: 4 })),
    );
    for (const member of members) member.go();
    const done = await Promise.all(members.map((member) => member.line((line) => line.startsWith('done '), 'done')));
    await Promise.all(members.map((member) => member.finish()));

    expect(emulator.received.filter(from('a'))).toHaveLength(count);
    expect(emulator.received.filter(from('b'))).toHaveLength(count);
    expect(done.map(statusesOf)).toEqual([{ 200: count }, { 200: count }]);
    expect(emulator.maxInWindow(1000)).toBeLessThanOrEqual(rate);
    const arrivals = emulator.received.map((request) => request.at).sort((a, b) => a - b);
    const throughput = ((arrivals.length - 1) / (arrivals.at(-1)! - arrivals[0])) * 1000;
    expect(throughput).toBeGreaterThanOrEqual(0.9 * rate);
  });
});

describe('a 429 with Retry-After received by one member', () => {
  it('pauses the other member too', async () => {
    const schema = await freshSchema();
    const rate = 25;
    const interval = (1000 / rate) * 1.05;
    const { emulator, url } = await limitedVendor(rate);
    // Member a's first request after 30 in all is refused for 2 seconds.
    emulator.inject({ kind: 'status', status: 429, headers: { 'retry-after': '2' } }, 1, (request) => from('a')(request) && emulator.received.length > 30);
    const count = 4 * rate;
    const [a, b] = await Promise.all(
      ['a', 'b'].map((name) => startMember({ schema, name, mode: 'send', url, requestsPerSecond: rate, concurrency: 4, count, workers: 2 })),
    );
    a.go();
    b.go();
    await a.line((line) => line === 'paused', 'the pause written');
    const written = Date.now();
    // The fault went to a's first request from the 31st on.
    const refused = emulator.received.slice(30).find(from('a'))!;
    await Promise.all([a, b].map((member) => member.line((line) => line.startsWith('done '), 'done')));
    await Promise.all([a.finish(), b.finish()]);

    // From the pause in the row (plus a moment b had reserved before it: two intervals) to its end, b sent nothing.
    const pauseEnd = refused.at + 2000;
    const during = emulator.received.filter((request) => from('b')(request) && request.at > written + 2 * interval && request.at < pauseEnd);
    expect(pauseEnd - (written + 2 * interval), 'the pause window checked (ms)').toBeGreaterThan(1000);
    expect(during.map((request) => request.at - refused.at)).toEqual([]);
    // Both sent before the 429 and resumed after the pause.
    for (const member of ['a', 'b']) {
      expect(emulator.received.some((request) => from(member)(request) && request.at < refused.at)).toBe(true);
      expect(emulator.received.some((request) => from(member)(request) && request.at >= pauseEnd)).toBe(true);
    }
    expect(emulator.received.filter(from('b'))).toHaveLength(count);
  });
});

describe('concurrency shared by two members', () => {
  it('never has more than the concurrency in flight at a slow vendor', async () => {
    const schema = await freshSchema();
    const concurrency = 3;
    const emulator = new HttpEmulator(() => ({ status: 200 }));
    emulator.latencyMs = 150;
    const url = await emulator.start();
    onTestFinished(() => emulator.stop());
    // Rate is no limit here (1,000/s); each member has twice the concurrency of callers waiting.
    const members = await Promise.all(
      ['a', 'b'].map((name) => startMember({ schema, name, mode: 'send', url, requestsPerSecond: 1000, concurrency, count: 30, workers: 2 * concurrency })),
    );
    for (const member of members) member.go();
    await Promise.all(members.map((member) => member.line((line) => line.startsWith('done '), 'done')));
    await Promise.all(members.map((member) => member.finish()));

    expect(emulator.received).toHaveLength(60);
    expect(emulator.maxInFlight).toBe(concurrency);
    // Both members got slots while the other was sending (they take turns, not one after the other).
    const order = emulator.received.map((request) => headerOf(request, 'x-member'));
    const firstB = order.indexOf('b');
    const firstA = order.indexOf('a');
    expect(Math.max(firstA, firstB)).toBeLessThan(30);
  });

  it('gives the slots of a member killed with SIGKILL back to the others', async () => {
    const schema = await freshSchema();
    const concurrency = 3;
    const holder = await startMember({ schema, name: 'holder', mode: 'hold', requestsPerSecond: 10, concurrency });
    holder.go();
    await holder.line((line) => line === 'held', 'every slot held');
    const waiter = await startMember({ schema, name: 'waiter', mode: 'wait', requestsPerSecond: 10, concurrency });
    waiter.go();
    await waiter.line((line) => line === 'busy', 'finding no free slot');
    expect(waiter.lines).not.toContain('entered all');

    const killed = Date.now();
    await holder.kill();
    await waiter.line((line) => line === 'entered all', 'every slot');
    // The session's locks go with its connection: at once, give or take the waiter's retry.
    expect(Date.now() - killed).toBeLessThan(5000);
    await waiter.finish();
  });
});

describe('a member paused (SIGSTOP) while holding slots', () => {
  it('loses them to the others once the server ends its idle session, and is refused more once resumed', async () => {
    const schema = await freshSchema();
    const concurrency = 2;
    const pausedMemberTimeoutMs = 1500;
    const holder = await startMember({ schema, name: 'holder', mode: 'hold', requestsPerSecond: 10, concurrency, pausedMemberTimeoutMs });
    holder.go();
    await holder.line((line) => line === 'held', 'every slot held');
    const waiter = await startMember({ schema, name: 'waiter', mode: 'wait', requestsPerSecond: 10, concurrency, pausedMemberTimeoutMs });
    waiter.go();
    await waiter.line((line) => line === 'busy', 'finding no free slot');

    const paused = Date.now();
    holder.signal('SIGSTOP');
    await waiter.line((line) => line === 'entered all', 'every slot');
    // Not before the server ended the paused member's idle session (its heartbeat stopped with it).
    expect(Date.now() - paused).toBeGreaterThanOrEqual(pausedMemberTimeoutMs - pausedMemberTimeoutMs / 3);
    holder.signal('SIGCONT');
    holder.tell('again');
    const refused = await holder.line((line) => line.startsWith('refused: ') || line === 'entered again', 'asking for a slot once resumed');
    expect(refused).toMatch(/^refused: destination "vendor": the connection holding the fleet's concurrency slots failed: /);
    await holder.finish();
    await waiter.finish();
  });
});

describe('the fence of a run', () => {
  it('refuses a turn with LockLostError once another member took the sync over', async () => {
    const schema = await freshSchema();
    const admin = new pg.Client({ connectionString: POSTGRES_URL, options: `-c search_path=${schema}` });
    await admin.connect();
    onTestFinished(() => admin.end());
    await admin.query(`insert into locks values ('users', 'token-1')`);
    const budgets = await FleetBudgets.open(memberConnection(schema));
    onTestFinished(() => budgets.close());
    const { limiter } = budgets.budgetFor('vendor', 20, 2);
    const fence = { sync: 'users', token: 'token-1' };

    for (let index = 0; index < 3; index++) (await limiter.take(fence)).departed();
    // Another member took the sync over: its token replaces ours.
    await admin.query(`update locks set token = 'token-2' where sync = 'users'`);
    const refused = limiter.take(fence);
    await expect(refused).rejects.toBeInstanceOf(LockLostError);
    await expect(refused).rejects.toThrow('the lock of sync "users" was taken over by another member; this run stops sending');
    // The lock's new holder and callers without a fence still get turns; a deleted lock refuses too.
    (await limiter.take({ sync: 'users', token: 'token-2' })).departed();
    (await limiter.take()).departed();
    await admin.query(`delete from locks`);
    await expect(limiter.take({ sync: 'users', token: 'token-2' })).rejects.toBeInstanceOf(LockLostError);
  });
});

describe('the budget row', () => {
  it('spaces the turns of two members on the server clock, at most R in any second', async () => {
    const schema = await freshSchema();
    const rate = 50;
    const members = await Promise.all([FleetBudgets.open(memberConnection(schema)), FleetBudgets.open(memberConnection(schema))]);
    onTestFinished(async () => void (await Promise.all(members.map((member) => member.close()))));
    const releases: number[] = [];
    const limiters = members.map((member) => member.budgetFor('vendor', rate, 4).limiter);
    for (const limiter of limiters) limiter.onRelease = (at) => releases.push(at);
    await Promise.all(limiters.map((limiter) => Promise.all(Array.from({ length: rate }, () => limiter.take().then((turn) => turn.departed())))));

    const sorted = releases.sort((a, b) => a - b);
    expect(sorted).toHaveLength(2 * rate);
    let shortest = Infinity;
    for (let index = 0; index + rate < sorted.length; index++) shortest = Math.min(shortest, sorted[index + rate] - sorted[index]);
    // R+1 turns span R intervals (1,050 ms) less the absorbed lateness and clock uncertainty.
    expect(shortest).toBeGreaterThanOrEqual(1040);
  });
});

describe('a member whose connection to the state is lost', () => {
  it('refuses turns and slots with a message naming the destination, instead of sending unpaced', async () => {
    const schema = await freshSchema();
    const budgets = await FleetBudgets.open({ ...memberConnection(schema), application_name: `lost-${schema}` });
    onTestFinished(() => budgets.close());
    const { limiter, gate } = budgets.budgetFor('vendor', 20, 2);
    (await limiter.take()).departed();
    const admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    onTestFinished(() => admin.end());
    const { rows } = await admin.query<{ ended: boolean }>('select pg_terminate_backend(pid) as ended from pg_stat_activity where application_name = $1', [
      `lost-${schema}`,
    ]);
    expect(rows).toEqual([{ ended: true }]);

    await expect(limiter.take()).rejects.toThrow(
      /^destination "vendor": the fleet's rate budget could not be reserved in the state's PostgreSQL \(.+\); check that the server is reachable/,
    );
    await expect(gate.enter()).rejects.toThrow(/^destination "vendor": the connection holding the fleet's concurrency slots failed: /);
  });
});
