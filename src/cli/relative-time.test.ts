import { describe, expect, it } from 'vitest';
import { ago } from './relative-time.js';

describe('ago', () => {
  const now = Date.parse('2026-12-02T12:00:00Z');
  it.each([
    ['2026-12-02T11:59:55Z', 'just now'],
    ['2026-12-02T11:59:20Z', '40 s ago'],
    ['2026-12-02T11:55:00Z', '5 min ago'],
    ['2026-12-02T09:00:00Z', '3 h ago'],
    ['2026-12-01T11:00:00Z', '1 day ago'],
    ['2026-11-20T12:00:00Z', '12 days ago'],
    ['2026-01-05T12:00:00Z', '2026-01-05'],
    ['2026-12-02T12:05:00Z', '2026-12-02T12:05:00Z'],
    ['not a time', 'not a time'],
  ])('%s is %s', (iso, text) => expect(ago(iso, now)).toBe(text));
  it('leaves a missing time empty', () => expect(ago(null, now)).toBe(''));
});
