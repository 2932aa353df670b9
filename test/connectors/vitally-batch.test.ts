// Vitally's batch endpoint through the CLI against its emulator: the exact batch bodies, a batch the
// vendor refuses whole split down to the refused records, 429 and 5xx on a batch retried, the rate
// limit held per batch request, plan counting batches, and the `batch:` setting validated.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { messageIdFor } from '../../connectors/vitally/index.js';
import { runSync } from '../../src/engine/sync.js';
import { fingerprint } from '../../src/fingerprint.js';
import { workspaceFor } from '../helpers/index.js';
import { expectPaced, recordPacing } from '../helpers/pacing.js';
import { BATCH_LIMIT, VitallyEmulator, vitallyFault } from '../../sandbox/vitally.js';
import { people, setup, type DestinationCase } from './destination-suite.js';

const SECRET_KEY = 'sk_live_vitally_9f3c2a';
const HEADER_VALUE = Buffer.from(`${SECRET_KEY}:`).toString('base64');

/** The Vitally case of the shared suite, with `batch:` as given (a YAML value; undefined: the default). */
const vitallyCase = (batch?: string): DestinationCase<VitallyEmulator> => ({
  type: 'vitally',
  emulator: () => new VitallyEmulator(SECRET_KEY),
  settings: (url) => ({ subdomain: 'acme', token: '${VITALLY_TOKEN}', baseUrl: url, ...(batch === undefined ? {} : { batch }) }),
  env: { VITALLY_TOKEN: SECRET_KEY },
  secrets: [SECRET_KEY, HEADER_VALUE],
  mapping: ['userId: id', 'accountId: account_id', 'traits.name: name', 'traits.plan: plan'],
  keyOf: (body) => String(body.userId),
  invalid: { change: { account_id: null }, reason: 'accountId: Vitally needs accountId or organizationId' },
  rejection: { fault: vitallyFault(400, 'refused'), reason: 'refused' },
  refuse: (emulator) => void (emulator.secretKey = 'sk_live_rolled_key'),
  refusal: 'HTTP 401: Unauthorized: invalid Secret Token or Basic Auth Header',
  passing: [vitallyFault(429, 'Too Many Requests'), vitallyFault(502, 'Bad Gateway')],
});

const userIds = (batch: Record<string, unknown>[]) => batch.map((message) => String(message.userId));
/** The batches received, each as its userIds, ordered by their first record (requests go out concurrently). */
const batchesByKey = (emulator: VitallyEmulator) => emulator.batchBodies.map(userIds).sort((a, b) => Number(a[0]) - Number(b[0]) || a.length - b.length);

describe('Vitally batch delivery', () => {
  it('sends users in batches by default, each message as the user endpoint takes it plus "type": "user"', async () => {
    const { emulator, cli } = await setup(vitallyCase());

    const result = await cli('sync');
    expect(result.code).toBe(0);
    expect(emulator.received).toHaveLength(1);
    const [request] = emulator.received;
    expect(request.path).toBe('/analytics/v1/batch');
    expect(request.headers.authorization).toBe(`Basic ${HEADER_VALUE}`);
    const mapped = (id: number) => ({ userId: String(id), accountId: `acct-${id % 3}`, traits: { name: `User ${id}`, plan: id % 2 ? 'free' : 'pro' } });
    const body = request.body as Record<string, unknown>[];
    expect(body).toHaveLength(10);
    body.forEach((message, index) => {
      const record = mapped(index + 1);
      expect(message).toEqual({
        type: 'user',
        ...record,
        messageId: messageIdFor({ sync: 'people', key: record.userId, fingerprint: fingerprint(record), changedAt: '' }),
        timestamp: expect.any(String),
      });
    });
    expect(emulator.users.size).toBe(10);
    const status = await cli('status', '--json');
    expect(JSON.parse(status.stdout).syncs[0]).toMatchObject({ records: 10, lastRun: { outcome: 'success', counts: { sent: 10 } } });
  });

  it('groups records by batch.size, the last batch holding the rest', async () => {
    const { emulator, cli } = await setup(vitallyCase('{ size: 4 }'));

    expect((await cli('sync')).code).toBe(0);
    expect(batchesByKey(emulator)).toEqual([
      ['1', '2', '3', '4'],
      ['5', '6', '7', '8'],
      ['9', '10'],
    ]);
    expect(emulator.users.size).toBe(10);
  });

  it('sends one record per request to the user endpoint with batch: false', async () => {
    const { emulator, cli } = await setup(vitallyCase('false'));

    expect((await cli('sync')).code).toBe(0);
    expect(emulator.received).toHaveLength(10);
    expect(emulator.received.every((request) => request.path === '/analytics/v1/user')).toBe(true);
    expect(emulator.sentBodies.map((body) => body.userId).sort((a, b) => Number(a) - Number(b))).toEqual(['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
  });

  it('splits a batch Vitally refuses whole down to the refused records: they are rejected with its words, the rest committed', async () => {
    const { emulator, cli } = await setup(vitallyCase());
    emulator.refusedUsers.set('3', '"traits.email" is on the suppression list');
    emulator.refusedUsers.set('8', 'account "acct-2" is archived');

    const first = await cli('sync');
    expect(first.code).toBe(3);
    expect(first.stdout).toContain('✗ 3: HTTP 400: [0]: "traits.email" is on the suppression list');
    expect(first.stdout).toContain('✗ 8: HTTP 400: [0]: account "acct-2" is archived');
    // 10 → 5 + 5 → each 5 → 3 + 2 → each 3 → 2 + 1: the refused records end alone.
    expect(batchesByKey(emulator)).toEqual([
      ['1', '2'],
      ['1', '2', '3'],
      ['1', '2', '3', '4', '5'],
      ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'],
      ['3'],
      ['4', '5'],
      ['6', '7'],
      ['6', '7', '8'],
      ['6', '7', '8', '9', '10'],
      ['8'],
      ['9', '10'],
    ]);
    expect([...emulator.users.keys()].sort((a, b) => Number(a) - Number(b))).toEqual(['1', '2', '4', '5', '6', '7', '9', '10']);
    const rejected = JSON.parse((await cli('rejected', '--json')).stdout).rejected;
    expect(rejected.map((entry: { key: string; status: number }) => [entry.key, entry.status]).sort()).toEqual([
      ['3', 400],
      ['8', 400],
    ]);
    const status = JSON.parse((await cli('status', '--json')).stdout).syncs[0];
    expect(status).toMatchObject({ records: 8, lastRun: { outcome: 'partial', counts: { sent: 8, rejected: 2 } } });

    // Vitally takes them now: the next run sends only the two, in one batch.
    emulator.refusedUsers.clear();
    const before = emulator.received.length;
    expect((await cli('sync')).code).toBe(0);
    expect(emulator.batchBodies.slice(before).map(userIds)).toEqual([['3', '8']]);
    expect(emulator.users.size).toBe(10);
  });

  it('never sends an invalid record: the batch carries the others', async () => {
    const rows = people(6).map((row) => (row.id === 4 ? { ...row, account_id: null } : row));
    const { emulator, cli } = await setup(vitallyCase(), { rows });

    const result = await cli('sync');
    expect(result.code).toBe(0);
    expect(emulator.batchBodies.map(userIds)).toEqual([['1', '2', '3', '5', '6']]);
  });

  it('retries a batch answered 429 or 5xx, the same body each time, until it is confirmed', async () => {
    const { emulator, cli } = await setup(vitallyCase('{ size: 5 }'));
    emulator.inject(vitallyFault(429, 'Too Many Requests'), 1);
    emulator.inject(vitallyFault(503, 'Service Unavailable'), 1);

    const result = await cli('sync');
    expect(result.code).toBe(0);
    expect(emulator.received).toHaveLength(4);
    expect(emulator.accepted).toBe(2);
    const bodies = emulator.batchBodies.map((body) => JSON.stringify(body));
    expect(new Set(bodies).size).toBe(2);
    expect(emulator.users.size).toBe(10);
    expect(emulator.duplicates).toBe(0);
  });

  it('leaves every record of a batch due when it keeps failing, and sends them next run', async () => {
    const { emulator, cli } = await setup(vitallyCase());
    emulator.inject(vitallyFault(502, 'Bad Gateway'), 4);

    const first = await cli('sync');
    expect(first.code).toBe(3);
    expect(emulator.received).toHaveLength(4); // the first try and 3 retries
    expect(JSON.parse((await cli('status', '--json')).stdout).syncs[0]).toMatchObject({ records: 0, lastRun: { counts: { failed: 10 } } });

    expect((await cli('sync')).code).toBe(0);
    expect(emulator.users.size).toBe(10);
  });

  it('stops at once when Vitally refuses the credentials for a batch, committing nothing', async () => {
    const { emulator, cli } = await setup(vitallyCase('{ size: 10 }'), { rows: people(100) });
    emulator.secretKey = 'sk_live_rolled_key';

    const result = await cli('sync');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('HTTP 401: Unauthorized: invalid Secret Token or Basic Auth Header');
    expect(result.stdout).toContain('The sync stopped');
    expect(emulator.received.length).toBeLessThanOrEqual(8);
    expect(JSON.parse((await cli('status', '--json')).stdout).syncs[0]).toMatchObject({ records: 0, lastRun: { outcome: 'stopped' } });
  });

  it('paces batch requests by the rate limit: one batch is one request', async () => {
    const { emulator, dir } = await setup(vitallyCase('{ size: 5 }'), { rows: people(200), requestsPerSecond: 20 });
    const workspace = workspaceFor(fs.readFileSync(path.join(dir, 'backflow.yaml'), 'utf8'), dir, vitallyCase().env);
    const sync = workspace.syncNamed('people');
    const pacing = recordPacing(workspace.destination(sync).limiter);

    const summary = await runSync(workspace, sync);
    expect(summary).toMatchObject({ outcome: 'success', counts: { sent: 200 } });
    expect(emulator.received).toHaveLength(40);
    expectPaced(
      pacing,
      emulator.received.map((request) => request.at),
      20,
    );
    workspace.state.close();
  });
});

describe('plan for a batching destination', () => {
  const requests = async (batch: string | undefined, rows: number) => {
    const { cli } = await setup(vitallyCase(batch), { rows: people(rows) });
    const result = await cli('plan', '--json');
    expect(result.code).toBe(2);
    return JSON.parse(result.stdout).syncs[0].requests as number;
  };

  it('counts one request per batch, as sync groups them', async () => {
    expect(await requests(undefined, 250)).toBe(3);
    expect(await requests('{ size: 4 }', 10)).toBe(3);
    expect(await requests('false', 10)).toBe(10);
  });

  it('says so in its text', async () => {
    const { cli } = await setup(vitallyCase('{ size: 4 }'));
    const result = await cli('plan');
    expect(result.stdout).toContain('3 requests would be sent');
  });
});

describe('the batch setting', () => {
  const validate = async (batch: string) => {
    const { cli, dir } = await setup(vitallyCase(batch));
    const result = await cli('validate');
    return { ...result, file: path.join(dir, 'backflow.yaml') };
  };

  it(`refuses a size over Vitally's maximum of ${BATCH_LIMIT}, with file:line:column`, async () => {
    const result = await validate('{ size: 101 }');
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${result.file}:11:20: destinations.dest.batch.size: Vitally takes at most 100 records per batch request`);
  });

  it('refuses a size that is not a positive whole number, and a batch that is neither false nor { size }', async () => {
    expect((await validate('{ size: 0 }')).stderr).toContain('destinations.dest.batch.size');
    const yes = await validate('true');
    expect(yes.code).toBe(1);
    expect(yes.stderr).toContain('destinations.dest.batch');
  });

  it('accepts { size: N } up to the maximum, and false', async () => {
    expect((await validate('{ size: 100 }')).code).toBe(0);
    expect((await validate('false')).code).toBe(0);
  });
});

describe('the Vitally emulator’s batch endpoint, as documented', () => {
  const post = async (emulator: VitallyEmulator, body: unknown) => {
    const response = await fetch(`${emulator.url}/analytics/v1/batch`, {
      method: 'POST',
      headers: { Authorization: `Basic ${emulator.basicAuthHeaderValue}`, 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as unknown };
  };
  const message = (id: number, extra: Record<string, unknown> = {}) => ({
    type: 'user',
    userId: String(id),
    accountId: 'a',
    traits: {},
    messageId: `m-${id}`,
    ...extra,
  });

  it('refuses more than 100 messages, a message without type, and a body that is not an array, applying nothing', async () => {
    const emulator = new VitallyEmulator(SECRET_KEY);
    await emulator.start();
    try {
      const tooMany = await post(
        emulator,
        Array.from({ length: BATCH_LIMIT + 1 }, (_, index) => message(index)),
      );
      expect(tooMany).toEqual({ status: 400, body: { error: 'A batch holds at most 100 messages, got 101' } });
      const { type: _type, ...untyped } = message(2);
      expect(await post(emulator, [message(1), untyped])).toEqual({ status: 400, body: { error: '[1]: "type" is required' } });
      expect(await post(emulator, [message(1), message(2, { accountId: undefined })])).toEqual({
        status: 400,
        body: { error: '[1]: "accountId" or "organizationId" is required' },
      });
      expect((await post(emulator, message(1))).status).toBe(400);
      expect((await post(emulator, [])).status).toBe(400);
      expect(emulator.users.size).toBe(0);

      expect(await post(emulator, [message(1), message(2)])).toEqual({ status: 200, body: { message: 'Success.' } });
      expect([...emulator.users.keys()]).toEqual(['1', '2']);
    } finally {
      await emulator.stop();
    }
  });
});
