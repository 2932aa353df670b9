// iso8601 returns text already in toISOString's form as it is: only when re-printing it would give
// the very same text (a real calendar day, UTC, milliseconds), so payloads and fingerprints stay as before.
import { describe, expect, it } from 'vitest';
import { isCanonicalIso, transforms } from './transforms.js';

const slow = (text: string) => {
  const date = new Date(text);
  return !Number.isNaN(date.getTime()) && date.toISOString() === text;
};

describe('iso8601 fast path', () => {
  it('recognises exactly the texts toISOString would write', () => {
    const texts = [
      '2026-01-01T00:01:00.000Z',
      '2024-02-29T23:59:59.999Z', // leap day
      '2026-02-29T00:00:00.000Z', // no such day: Date rolls it over to March
      '2026-02-30T00:00:00.000Z',
      '1900-02-29T00:00:00.000Z', // not a leap year
      '2000-02-29T00:00:00.000Z', // a leap year
      '2026-04-31T00:00:00.000Z',
      '2026-13-01T00:00:00.000Z',
      '2026-00-10T00:00:00.000Z',
      '2026-01-00T00:00:00.000Z',
      '2026-01-01T24:00:00.000Z',
      '2026-01-01T00:00:60.000Z',
      '2026-01-01T00:00:00Z',
      '2026-01-01T00:00:00.000+00:00',
      '2026-01-01 00:00:00.000Z',
      '0000-01-01T00:00:00.000Z',
      ' 2026-01-01T00:00:00.000Z',
    ];
    for (const text of texts) expect([text, isCanonicalIso(text)]).toEqual([text, slow(text)]);
  });

  it('gives the same value as parsing and re-printing, for canonical text and for any other input', () => {
    for (const value of ['2026-02-29T00:00:00.000Z', '2024-02-29T12:00:00.000Z', '2026-01-01T10:00:00+02:00', 1767225600, new Date(0)]) {
      expect(transforms.iso8601(value)).toBe(new Date(typeof value === 'number' ? value * 1000 : value).toISOString());
    }
    expect(() => transforms.iso8601('not a date')).toThrow(/expected a date/);
  });
});
