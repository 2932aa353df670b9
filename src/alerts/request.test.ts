// The bytes an alert sends: the webhook body as is, signed over those exact bytes; Slack's blocks; no secret.
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AlertConfig } from '../config/schema.js';
import { registerSecrets } from '../redact.js';
import type { AlertMessage } from './message.js';
import { alertRequest, signature } from './request.js';

const SECRET = 'whsec_0123456789abcdef0123';
const VENDOR_KEY = 'pk_test_Echoed_Key_4417';

const message: AlertMessage = {
  id: 'id-1',
  event: 'run.finished',
  test: false,
  sentAt: '2026-05-04T10:15:04.250Z',
  alert: 'oncall',
  reason: 'outcome',
  sync: 'users',
  destination: 'gamify',
  outcome: 'partial',
  runId: 3,
  startedAt: '2026-05-04T10:15:02.000Z',
  finishedAt: '2026-05-04T10:15:04.000Z',
  durationMs: 2000,
  counts: { read: 2, added: 2, changed: 0, unchanged: 0, removed: 0, invalid: 0, retry: 0, sent: 1, rejected: 1, failed: 0 },
  refused: 1,
  rejectedAbove: null,
  error: null,
  rejections: [{ key: '2', reason: `HTTP 400: key ${VENDOR_KEY} may not set email` }],
  invalid: [],
  host: 'box',
  via: 'sync',
};

const webhook = { name: 'oncall', type: 'webhook', url: 'https://hooks.example.com/in', on: ['partial'], timeoutSeconds: 5 } as AlertConfig;

describe('alertRequest', () => {
  it('posts the message as JSON, with the timestamp of its sentAt, and no signature without a secret', () => {
    const request = alertRequest(webhook, message);
    expect(request.url).toBe('https://hooks.example.com/in');
    expect(JSON.parse(request.body)).toEqual(message);
    expect(request.headers).toEqual({ 'content-type': 'application/json', 'x-backflow-timestamp': '1777889704' });
  });

  it('signs the exact body bytes with HMAC-SHA256 of the secret', () => {
    const request = alertRequest({ ...webhook, secret: SECRET } as AlertConfig, message);
    const expected = createHmac('sha256', SECRET).update(Buffer.from(request.body, 'utf8')).digest('hex');
    expect(request.headers['x-backflow-signature']).toBe(`sha256=${expected}`);
    expect(signature(request.body, SECRET)).toBe(`sha256=${expected}`);
    expect(request.body).not.toContain(SECRET);
    expect(signature(`${request.body} `, SECRET)).not.toBe(request.headers['x-backflow-signature']);
  });

  it('redacts a vendor echo of a registered secret from the body, before signing it', () => {
    registerSecrets([VENDOR_KEY]);
    const request = alertRequest({ ...webhook, secret: SECRET } as AlertConfig, message);
    expect(request.body).not.toContain(VENDOR_KEY);
    expect((JSON.parse(request.body) as AlertMessage).rejections[0].reason).toBe('HTTP 400: key *** may not set email');
    expect(request.headers['x-backflow-signature']).toBe(signature(request.body, SECRET));
  });

  it('sends Slack its text and blocks, unsigned', () => {
    const request = alertRequest({ ...webhook, type: 'slack' }, message);
    const body = JSON.parse(request.body) as { text: string; blocks: unknown[] };
    expect(body.text).toBe('Backflow: users: partial (run #3)');
    expect(body.blocks.length).toBeGreaterThan(3);
    expect(request.headers).toEqual({ 'content-type': 'application/json' });
  });
});
