// Vitally's user endpoint (batch: false) through the CLI against its emulator: the exact user message
// (messageId and timestamp derived from the change), both token forms, the blocked `user` message
// type, and the shared destination behaviour. The batch endpoint: vitally-batch.test.ts.
import { describe, expect, it } from 'vitest';
import { basicCredential, messageIdFor, vitally } from '../../connectors/vitally/index.js';
import { fingerprint } from '../../src/fingerprint.js';
import { sqliteExec } from '../helpers/index.js';
import { VitallyEmulator, vitallyFault } from '../../sandbox/vitally.js';
import { describeDestinationContract, setup, type DestinationCase } from './destination-suite.js';

const SECRET_KEY = 'sk_live_vitally_9f3c2a';
const HEADER_VALUE = Buffer.from(`${SECRET_KEY}:`).toString('base64');

const spec: DestinationCase<VitallyEmulator> = {
  type: 'vitally',
  emulator: () => new VitallyEmulator(SECRET_KEY),
  settings: (url) => ({ subdomain: 'acme', token: '${VITALLY_TOKEN}', baseUrl: url, batch: 'false' }),
  env: { VITALLY_TOKEN: SECRET_KEY },
  secrets: [SECRET_KEY, HEADER_VALUE],
  mapping: [
    'userId: id',
    'accountId: account_id',
    'traits.name: name',
    'traits.email: email',
    'traits.createdAt: { column: signup_date, transform: iso8601 }',
    'traits.plan: plan',
    'traits.seats: seats',
  ],
  keyOf: (body) => String(body.userId),
  invalid: { change: { account_id: null }, reason: 'accountId: Vitally needs accountId or organizationId' },
  rejection: { fault: vitallyFault(400, '"traits.email" must be a valid email'), reason: '"traits.email" must be a valid email' },
  refuse: (emulator) => void (emulator.secretKey = 'sk_live_rolled_key'),
  refusal: 'HTTP 401: Unauthorized: invalid Secret Token or Basic Auth Header',
  passing: [vitallyFault(429, 'Too Many Requests'), vitallyFault(502, 'Bad Gateway')],
};

describeDestinationContract(spec);

describe('syncing a warehouse to Vitally', () => {
  it('sends each user message as the mapping shapes it, with a messageId and timestamp of the change', async () => {
    const { emulator, cli } = await setup(spec);
    const before = new Date().toISOString();

    const result = await cli('sync');
    expect(result.code).toBe(0);
    expect(emulator.sentBodies).toHaveLength(10);
    const mapped = {
      userId: '7',
      accountId: 'acct-1',
      traits: { name: 'User 7', email: 'user7@example.com', createdAt: '2025-08-15T00:00:00.000Z', plan: 'free', seats: 70 },
    };
    const sent = emulator.sentBodies.find((body) => body.userId === '7')!;
    expect(sent).toEqual({
      ...mapped,
      messageId: messageIdFor({ sync: 'people', key: '7', fingerprint: fingerprint(mapped), changedAt: '' }),
      timestamp: expect.any(String),
    });
    expect(sent.messageId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(String(sent.timestamp) >= before && String(sent.timestamp) <= new Date().toISOString()).toBe(true);
    const request = emulator.received[0];
    expect(request.path).toBe('/analytics/v1/user');
    expect(request.headers.authorization).toBe(`Basic ${HEADER_VALUE}`);
    expect(new Set(emulator.sentBodies.map((body) => body.messageId)).size).toBe(10);
  });

  it('accepts the token as the ready "Basic Auth Header" value too', async () => {
    const { emulator, cli } = await setup({ ...spec, env: { VITALLY_TOKEN: HEADER_VALUE } });

    const result = await cli('sync');
    expect(result.code).toBe(0);
    expect(emulator.accepted).toBe(10);
    expect(emulator.received[0].headers.authorization).toBe(`Basic ${HEADER_VALUE}`);
  });

  it('stops, and says to ask Vitally support, when the account blocks the user message type', async () => {
    const { emulator, cli } = await setup(spec);
    emulator.blockedTypes.add('user');

    const result = await cli('sync');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      'HTTP 400: The "user" message type is blocked for this account. Contact support@vitally.io to update your blocked message types. This Vitally account',
    );
    expect(result.stdout).toContain('ask Vitally support (support@vitally.io) to unblock the user message type');
    expect(result.stdout).toContain('The sync stopped');
    expect(emulator.received.length).toBeLessThanOrEqual(8);
    const status = await cli('status', '--json');
    expect(JSON.parse(status.stdout).syncs[0].lastRun.outcome).toBe('stopped');
  });

  it('sends a retried change with the same messageId, and a new change with a new one', async () => {
    const { emulator, cli, warehouse } = await setup(spec);
    emulator.inject(vitallyFault(400, 'temporarily refused'), 1, (request) => (request.body as { userId?: string }).userId === '3');
    expect((await cli('sync')).code).toBe(3);
    const firstTry = emulator.sentBodies.find((body) => body.userId === '3')!;

    expect((await cli('sync')).code).toBe(0);
    const retried = emulator.sentBodies.filter((body) => body.userId === '3').at(-1)!;
    expect(retried.messageId).toBe(firstTry.messageId);
    expect(retried.traits).toEqual(firstTry.traits);

    sqliteExec(warehouse, "update people set plan = 'enterprise' where id = 3");
    expect((await cli('sync')).code).toBe(0);
    const changed = emulator.sentBodies.filter((body) => body.userId === '3').at(-1)!;
    expect(changed.traits).toMatchObject({ plan: 'enterprise' });
    expect(changed.messageId).not.toBe(firstTry.messageId);
    expect(emulator.duplicates).toBe(0);
    expect(emulator.users.get('3')?.traits).toMatchObject({ plan: 'enterprise' });
  });

  it('builds the host from the subdomain unless baseUrl overrides it', () => {
    const settings = vitally.settings.parse({ subdomain: 'acme', token: SECRET_KEY });
    const context = { sync: 's', key: '1', fingerprint: 'f', changedAt: '2026-01-01T00:00:00.000Z' };
    const request = vitally.request(settings, vitally.payload.parse({ userId: '1', accountId: 'a' }), context);
    expect(request.url).toBe('https://acme.api.vitally.io/analytics/v1/user');
    expect(request.json).toEqual({ userId: '1', accountId: 'a', traits: {}, messageId: messageIdFor(context), timestamp: '2026-01-01T00:00:00.000Z' });
    expect(basicCredential(SECRET_KEY)).toBe(HEADER_VALUE);
    expect(basicCredential(HEADER_VALUE)).toBe(HEADER_VALUE);
    expect(vitally.settings.safeParse({ subdomain: 'acme', token: `Basic ${HEADER_VALUE}` }).success).toBe(false);
  });
});
