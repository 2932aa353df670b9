// Redaction: a registered secret never survives in text, in any encoding it travels in, and short
// values that would mangle ordinary words are not treated as secrets.
import { describe, expect, it } from 'vitest';
import { redact, redactDeep, registerSecrets } from './redact.js';

describe('redact', () => {
  registerSecrets(['sk_live_redact_unit_9911', 'abc', 'p@ss word/+']);

  it('masks a secret as is, as base64 (with and without the colon of Basic auth) and URL-encoded', () => {
    const secret = 'sk_live_redact_unit_9911';
    const text = [secret, Buffer.from(secret).toString('base64'), Buffer.from(`${secret}:`).toString('base64'), encodeURIComponent('p@ss word/+')].join(' | ');
    expect(redact(text)).toBe('*** | *** | *** | ***');
  });

  it('masks every occurrence, and a secret inside a longer word', () => {
    expect(redact('key=sk_live_redact_unit_9911; again sk_live_redact_unit_9911x')).toBe('key=***; again ***x');
  });

  it('ignores values shorter than four characters', () => {
    expect(redact('abc is an ordinary word')).toBe('abc is an ordinary word');
  });

  it('masks strings anywhere inside a JSON value', () => {
    expect(redactDeep({ error: { message: 'bad key sk_live_redact_unit_9911', list: ['sk_live_redact_unit_9911'] }, count: 2 })).toEqual({
      error: { message: 'bad key ***', list: ['***'] },
      count: 2,
    });
  });
});
