// Appizer through the CLI against its emulator: the exact user payload, the shared destination
// behaviour, the revoked-key 403, and the 429 body's details.retry_after.
import { describe, expect, it } from 'vitest';
import { appizer } from '../../connectors/appizer/index.js';
import { AppizerEmulator, appizerFault } from '../../sandbox/appizer.js';
import { describeDestinationContract, setup, type DestinationCase } from './destination-suite.js';

const KEY = 'apz_live_Zx81-secret-key';

const spec: DestinationCase<AppizerEmulator> = {
  type: 'appizer',
  emulator: () => new AppizerEmulator([KEY]),
  settings: (url) => ({ apiKey: '${APPIZER_KEY}', baseUrl: url }),
  env: { APPIZER_KEY: KEY },
  secrets: [KEY],
  mapping: [
    'user_id: id',
    'email: email',
    'phone: phone',
    'properties.name: name',
    'properties.plan: plan',
    'properties.seats: seats',
    'properties.signup_date: signup_date',
    'origin.channel: { value: warehouse }',
    'origin.country: { column: country, transform: upper }',
  ],
  keyOf: (body) => String(body.user_id),
  invalid: { change: { phone: '555-0100' }, reason: 'phone: must be a phone number with its country code' },
  rejection: { fault: appizerFault(400, 'INVALID_TYPE', 'email is not a valid email address'), reason: 'email is not a valid email address (INVALID_TYPE)' },
  refuse: (emulator) => void emulator.validKeys.splice(0),
  refusal: 'HTTP 401: Invalid API key (INVALID_API_KEY)',
  passing: [
    appizerFault(429, 'RATE_LIMIT_EXCEEDED', 'Rate limit exceeded', { limit: 500, window: '1m', retry_after: 0 }),
    appizerFault(500, 'INTERNAL_ERROR', 'Something went wrong on our end'),
    appizerFault(503, 'SERVICE_UNAVAILABLE', 'Service temporarily unavailable'),
  ],
};

describeDestinationContract(spec);

describe('syncing a warehouse to Appizer', () => {
  it('sends each user as the mapping shapes it, with the Bearer key', async () => {
    const { emulator, cli } = await setup(spec);

    const result = await cli('sync');
    expect(result.code).toBe(0);
    expect(emulator.sentBodies).toHaveLength(10);
    expect(emulator.sentBodies.find((body) => body.user_id === '7')).toEqual({
      user_id: '7',
      email: 'user7@example.com',
      phone: '+15550000007',
      properties: { name: 'User 7', plan: 'free', seats: 70, signup_date: '2025-08-15' },
      origin: { channel: 'warehouse', country: 'US' },
    });
    const request = emulator.received[0];
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/v1/users');
    expect(request.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(request.headers['content-type']).toMatch(/^application\/json/);
    expect(emulator.users.get('7')).toMatchObject({ email: 'user7@example.com' });
  });

  it('stops when the key has been revoked (403)', async () => {
    const { emulator, cli } = await setup(spec);
    emulator.revokedKeys.add(KEY);

    const result = await cli('sync');
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('HTTP 403: This API key has been revoked (REVOKED_API_KEY)');
    expect(result.stdout).toContain("check the destination's settings");
    expect(emulator.accepted).toBe(0);
  });

  it('retries a 429 only after details.retry_after has passed', async () => {
    const { emulator, cli } = await setup(spec);
    emulator.inject(
      appizerFault(429, 'RATE_LIMIT_EXCEEDED', 'Rate limit exceeded', { limit: 500, window: '1m', retry_after: 1 }),
      1,
      (request) => (request.body as { user_id?: string }).user_id === '5',
    );

    const result = await cli('sync');
    expect(result.code).toBe(0);
    const attempts = emulator.received.filter((request) => (request.body as { user_id?: string }).user_id === '5');
    expect(attempts).toHaveLength(2);
    expect(attempts[1].at - attempts[0].at).toBeGreaterThanOrEqual(990);
    expect(emulator.accepted).toBe(10);
  });

  it('reads Appizer’s answers: details.retry_after, the success body, and error codes', () => {
    const tooMany = {
      error: 'Too Many Requests',
      message: 'Rate limit exceeded',
      code: 'RATE_LIMIT_EXCEEDED',
      details: { limit: 500, window: '1m', retry_after: 2 },
    };
    expect(appizer.interpret({ status: 429, headers: {}, body: tooMany })).toEqual({
      kind: 'retry',
      reason: 'HTTP 429: Rate limit exceeded (RATE_LIMIT_EXCEEDED)',
      afterMs: 2000,
    });
    // A 2xx without the documented {"success": true} (e.g. a proxy's page) is no confirmation.
    expect(appizer.interpret({ status: 200, headers: {}, body: '<html>proxy</html>' })).toMatchObject({ kind: 'retry' });
    expect(appizer.interpret({ status: 201, headers: {}, body: { success: true } })).toEqual({ kind: 'sent' });
    expect(appizer.interpret({ status: 409, headers: {}, body: { error: 'Conflict', message: 'user_id conflict', code: 'CONFLICT' } })).toEqual({
      kind: 'rejected',
      reason: 'HTTP 409: user_id conflict (CONFLICT)',
    });
  });
});
