// Userpilot through the CLI against its emulator: the exact identify payload and headers, errors
// kept from the `errors` array, and the shared destination behaviour.
import { describe, expect, it } from 'vitest';
import { userpilot } from '../../connectors/userpilot/index.js';
import { UserpilotEmulator, userpilotFault } from '../../sandbox/userpilot.js';
import { describeDestinationContract, setup, type DestinationCase } from './destination-suite.js';

const KEY = 'upk_7Hq2-secret-token';

const spec: DestinationCase<UserpilotEmulator> = {
  type: 'userpilot',
  emulator: () => new UserpilotEmulator([KEY]),
  settings: (url) => ({ environment: 'analytex-eu', apiKey: '${USERPILOT_KEY}', baseUrl: url }),
  env: { USERPILOT_KEY: KEY },
  secrets: [KEY],
  mapping: [
    'user_id: id',
    'metadata.name: name',
    'metadata.email: email',
    'metadata.plan: plan',
    'metadata.seats: seats',
    'metadata.created_at: { column: signup_date, transform: iso8601 }',
    'company.company_id: company_id',
    'company.name: company_name',
  ],
  keyOf: (body) => String(body.user_id),
  invalid: { change: { company_id: null }, reason: 'company.company_id: required' },
  rejection: {
    fault: userpilotFault(
      400,
      { error: 'Bad Request', error_code: 'INVALID_METADATA', message: 'metadata.plan is too long' },
      { error: 'Bad Request', error_code: 'INVALID_EMAIL', message: 'metadata.email is invalid' },
    ),
    reason: 'metadata.plan is too long (INVALID_METADATA); metadata.email is invalid (INVALID_EMAIL)',
  },
  refuse: (emulator) => void emulator.validKeys.splice(0),
  refusal: 'HTTP 401: Unauthorized - Invalid API key (UNAUTHORIZED)',
  passing: [
    userpilotFault(429, { error: 'Too Many Requests', error_code: 'RATE_LIMITED', message: 'Rate limit exceeded' }),
    userpilotFault(500, { error: 'Internal Server Error', error_code: 'INTERNAL', message: 'Something went wrong' }),
  ],
};

describeDestinationContract(spec);

describe('syncing a warehouse to Userpilot', () => {
  it('identifies each user as the mapping shapes it, with the Token and API version headers', async () => {
    const { emulator, cli } = await setup(spec);

    const result = await cli('sync');
    expect(result.code).toBe(0);
    expect(emulator.sentBodies).toHaveLength(10);
    expect(emulator.sentBodies.find((body) => body.user_id === '8')).toEqual({
      user_id: '8',
      metadata: { name: 'User 8', email: 'user8@example.com', plan: 'pro', seats: 80, created_at: '2025-09-15T00:00:00.000Z' },
      company: { company_id: 'co-0', name: 'Globex' },
    });
    const request = emulator.received[0];
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v1/identify');
    expect(request.headers.authorization).toBe(`Token ${KEY}`);
    expect(request.headers['x-api-version']).toBe('2020-09-22');
    expect(emulator.accepted).toBe(10);
  });

  it('refuses metadata that is not text or a number before sending', () => {
    const parsed = userpilot.payload.safeParse({ user_id: '1', metadata: { trial: true, tags: ['a'] } });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`)).toEqual([
      'metadata.trial: must be text or a number (Userpilot keeps primitives only; dates as ISO 8601 text)',
      'metadata.tags: must be text or a number (Userpilot keeps primitives only; dates as ISO 8601 text)',
    ]);
  });

  it('sends to https://{environment}.userpilot.io unless baseUrl overrides it', () => {
    const settings = userpilot.settings.parse({ environment: 'analytex', apiKey: KEY });
    const request = userpilot.request(settings, userpilot.payload.parse({ user_id: 5 }), { sync: 's', key: '5', fingerprint: 'f', changedAt: '' });
    expect(request.url).toBe('https://analytex.userpilot.io/v1/identify');
    expect(request.json).toEqual({ user_id: '5' });
    expect(userpilot.settings.safeParse({ environment: 'https://analytex.userpilot.io', apiKey: KEY }).success).toBe(false);
  });
});
