// Formbricks through the CLI against its emulator: the exact user payload, a 200 with data.errors
// read as a rejection, an unknown environment stopping the sync, and the shared destination behaviour.
import { describe, expect, it } from 'vitest';
import { formbricks } from '../../connectors/formbricks/index.js';
import { FormbricksEmulator, formbricksFault } from '../../sandbox/formbricks.js';
import { describeDestinationContract, setup, type DestinationCase } from './destination-suite.js';

const ENVIRONMENT = 'cm6orqtdd000a19wjhnbces5s';

const spec: DestinationCase<FormbricksEmulator> = {
  type: 'formbricks',
  emulator: () => new FormbricksEmulator([ENVIRONMENT]),
  settings: (url) => ({ baseUrl: url, environmentId: ENVIRONMENT }),
  env: {},
  secrets: [], // Formbricks' client API has no credentials
  mapping: [
    'userId: id',
    'attributes.email: email',
    'attributes.plan: plan',
    'attributes.seats: seats',
    'attributes.country: { column: country, transform: upper }',
  ],
  keyOf: (body) => String(body.userId),
  invalid: { change: { email: 'not-an-email' }, reason: 'attributes.email: must look like an email address' },
  rejection: {
    fault: formbricksFault(400, 'bad_request', 'Invalid request body', { 'attributes.plan': 'too long' }),
    reason: 'Invalid request body (bad_request) {"attributes.plan":"too long"}',
  },
  refuse: (emulator) => void (emulator.enterprise = false),
  refusal:
    'HTTP 403: User identification is only available in the Formbricks Enterprise Edition (forbidden). Identifying users is a Formbricks Enterprise feature',
  passing: [formbricksFault(429, 'too_many_requests', 'Too many requests'), formbricksFault(500, 'internal_server_error', 'Internal server error')],
};

describeDestinationContract(spec);

describe('syncing a warehouse to Formbricks', () => {
  it('identifies each user with the mapped attributes, without any auth header', async () => {
    const { emulator, cli } = await setup(spec);

    const result = await cli('sync');
    expect(result.code).toBe(0);
    expect(emulator.sentBodies).toHaveLength(10);
    expect(emulator.sentBodies.find((body) => body.userId === '6')).toEqual({
      userId: '6',
      attributes: { email: 'user6@example.com', plan: 'pro', seats: 60, country: 'NG' },
    });
    const request = emulator.received[0];
    expect(request.path).toBe(`/api/v1/client/${ENVIRONMENT}/user`);
    expect(request.headers.authorization).toBeUndefined();
    expect(emulator.contacts.get('6')?.attributes).toEqual({ email: 'user6@example.com', plan: 'pro', seats: 60, country: 'NG' });
  });

  it('treats a 200 whose data.errors refuses attributes as a rejection, retried on the next run', async () => {
    const { emulator, cli } = await setup(spec);
    emulator.maxAttributeKeys = 3; // email exists; plan and seats fit; country does not

    const first = await cli('sync');
    expect(first.code).toBe(3);
    expect(first.stdout).toContain('rejected 10');
    expect(first.stdout).toContain(
      // The ten records refused alike share one line (grouped by reason).
      '✗ 10 × HTTP 200: Formbricks refused attributes: Could not create attribute key "country": the environment already has the maximum of 3 attribute keys; e.g. ',
    );

    emulator.maxAttributeKeys = 150;
    const second = await cli('sync');
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('sent 10');
    expect(emulator.contacts.get('1')?.attributes).toMatchObject({ country: 'US' });
  });

  it('stops when the environment does not exist (404), since every record would fail alike', async () => {
    const { emulator, cli } = await setup({ ...spec, settings: (url) => ({ baseUrl: url, environmentId: 'wrong_environment' }) });

    const result = await cli('sync');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('HTTP 404: Environment not found (not_found)');
    expect(result.stdout).toContain('Check environmentId');
    expect(emulator.received.length).toBeLessThanOrEqual(8);
  });

  it('keeps a body over 2 MiB, reserved keys and values of other types out before sending', () => {
    const big = formbricks.payload.safeParse({ userId: '1', attributes: { notes: 'x'.repeat(2 * 1024 * 1024) } });
    expect(big.error?.issues.map((issue) => issue.message)).toEqual(['the request body would exceed Formbricks’ 2 MiB limit']);
    const bad = formbricks.payload.safeParse({ userId: '1', attributes: { first_name: 'Ada', lastName: 'L', tags: ['a'] } });
    expect(bad.error?.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)).toEqual([
      'attributes.first_name: "first_name" is reserved by Formbricks: use another attribute name',
      'attributes.lastName: attribute keys must be lower case: a letter, then letters, digits or "_"',
      'attributes.tags: must be text, a number or true/false',
    ]);
  });
});
