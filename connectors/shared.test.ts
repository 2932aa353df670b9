// The shared reading of HTTP answers every connector falls back on: which status means sent, stop,
// retry or rejected, and which words of the vendor's body the user is shown.
import { describe, expect, it } from 'vitest';
import type { HttpResponse } from './contract.js';
import { header, idString, standardOutcome, vendorMessage } from './shared.js';

const answer = (status: number, body: unknown = '', headers: HttpResponse['headers'] = {}): HttpResponse => ({ status, headers, body });

describe('standardOutcome', () => {
  it.each([200, 201, 202, 204, 299])('takes %i as sent', (status) => {
    expect(standardOutcome(answer(status))).toEqual({ kind: 'sent' });
  });

  it.each([401, 403])('stops the sync on %i and says to check the settings', (status) => {
    expect(standardOutcome(answer(status, { message: 'Invalid API key' }))).toEqual({
      kind: 'stop',
      reason: `HTTP ${status}: Invalid API key. The destination refused the credentials or the account: check the destination's settings`,
    });
  });

  it.each([408, 429, 500, 502, 503, 504, 599])('retries %i, a passing failure', (status) => {
    expect(standardOutcome(answer(status, { error: 'busy' }))).toEqual({ kind: 'retry', reason: `HTTP ${status}: busy` });
  });

  it.each([400, 404, 409, 413, 422, 451])('rejects the record on %i, with the vendor’s words', (status) => {
    expect(standardOutcome(answer(status, { message: 'email is invalid' }))).toEqual({ kind: 'rejected', reason: `HTTP ${status}: email is invalid` });
  });

  it('treats a status outside 2xx–5xx it does not know as a rejection, never as sent', () => {
    expect(standardOutcome(answer(302, 'moved')).kind).toBe('rejected');
    expect(standardOutcome(answer(100, '')).kind).toBe('rejected');
  });

  it('uses the message the connector read from its vendor’s own error shape', () => {
    expect(standardOutcome(answer(400, { errors: [{ code: 'X' }] }), 'name is too long (X)')).toEqual({
      kind: 'rejected',
      reason: 'HTTP 400: name is too long (X)',
    });
  });
});

describe('vendorMessage', () => {
  it('takes message, error, detail or details, in that order', () => {
    expect(vendorMessage({ error: 'Bad Request', message: 'email is invalid' })).toBe('email is invalid');
    expect(vendorMessage({ error: 'Bad Request' })).toBe('Bad Request');
    expect(vendorMessage({ detail: 'not found' })).toBe('not found');
    expect(vendorMessage({ details: 'too long' })).toBe('too long');
  });

  it('skips empty or non-text fields and falls back to the body as JSON', () => {
    expect(vendorMessage({ message: '', error: { code: 7 } })).toBe('{"message":"","error":{"code":7}}');
  });

  it('keeps a text body, cut at 500 characters, and says so when the body is empty', () => {
    expect(vendorMessage('<html>Bad Gateway</html>')).toBe('<html>Bad Gateway</html>');
    expect(vendorMessage('x'.repeat(600))).toHaveLength(500);
    expect(vendorMessage({ big: 'y'.repeat(600) })).toHaveLength(500);
    expect(vendorMessage('')).toBe('(empty body)');
    expect(vendorMessage(undefined)).toBe('(empty body)');
  });
});

describe('header', () => {
  it('reads a header whatever its case, and the first of repeated values', () => {
    const response = answer(429, '', { 'retry-after': ['2', '5'], 'x-request-id': 'abc' });
    expect(header(response, 'Retry-After')).toBe('2');
    expect(header(response, 'X-Request-Id')).toBe('abc');
    expect(header(response, 'missing')).toBeUndefined();
  });
});

describe('idString', () => {
  it('takes text, whole numbers and bigints as the identifier text', () => {
    expect([idString.parse('u-1'), idString.parse(42), idString.parse(9007199254740993n)]).toEqual(['u-1', '42', '9007199254740993']);
  });

  it('refuses a missing, empty, fractional or non-scalar identifier, saying why', () => {
    const message = (value: unknown) => idString.safeParse(value).error?.issues[0].message;
    expect(message(undefined)).toBe('required');
    expect(message('')).toBe('must not be empty');
    expect(message(1.5)).toBe('must be text or a whole number');
    expect(message({ id: 1 })).toBe('must be text or a whole number');
  });
});
