// The value rules every source follows: exact integers, JSON text as its value, exact timestamps for cursors.
import { describe, expect, it } from 'vitest';
import { compareCursors, exactInstant, exactInteger, parseJson, withExactFraction } from './values.js';

describe('exactInteger', () => {
  it('gives a number when JavaScript holds the integer exactly, else its decimal text', () => {
    expect(exactInteger(42n)).toBe(42);
    expect(exactInteger('-17')).toBe(-17);
    expect(exactInteger(BigInt(Number.MAX_SAFE_INTEGER))).toBe(Number.MAX_SAFE_INTEGER);
    expect(exactInteger(BigInt(Number.MAX_SAFE_INTEGER) + 2n)).toBe('9007199254740993');
    expect(exactInteger('-9223372036854775808')).toBe('-9223372036854775808');
  });
});

describe('parseJson', () => {
  it('reads JSON text as its value, and keeps text that is not JSON as it is', () => {
    expect(parseJson('{"a":[1,2]}')).toEqual({ a: [1, 2] });
    expect(parseJson('"text"')).toBe('text');
    expect(parseJson('not json')).toBe('not json');
    expect(parseJson('')).toBe('');
  });
});

describe('exact timestamps for cursors', () => {
  it('keeps the source fraction beside the Date, always to at least the microsecond', () => {
    const date = withExactFraction(new Date('2026-03-01T10:00:00.123Z'), '123456');
    expect(date.toISOString()).toBe('2026-03-01T10:00:00.123Z');
    expect(exactInstant(date)).toBe('2026-03-01T10:00:00.123456Z');
    expect(exactInstant(withExactFraction(new Date('2026-03-01T10:00:00Z'), ''))).toBe('2026-03-01T10:00:00.000000Z');
    expect(exactInstant(withExactFraction(new Date('2026-03-01T10:00:00.5Z'), '5'))).toBe('2026-03-01T10:00:00.500000Z');
    expect(exactInstant(new Date())).toBeUndefined();
    expect(exactInstant('2026-03-01')).toBeUndefined();
  });

  it('leaves dates it cannot print as ISO text to their Date', () => {
    expect(exactInstant(withExactFraction(new Date('+010000-01-01T00:00:00Z'), '123456'))).toBeUndefined();
    expect(exactInstant(withExactFraction(new Date(Number.NaN), '1'))).toBeUndefined();
  });

  it('orders ISO instants by time whatever their precision, numbers as numbers, text as text', () => {
    expect(compareCursors('2026-03-01T10:00:00.123456Z', '2026-03-01T10:00:00.123Z')).toBeGreaterThan(0);
    expect(compareCursors('2026-03-01T10:00:00.123000Z', '2026-03-01T10:00:00.123Z')).toBe(0);
    expect(compareCursors('2026-03-01T10:00:00Z', '2026-03-01T10:00:00.000001Z')).toBeLessThan(0);
    expect(compareCursors(10, 9)).toBeGreaterThan(0);
    expect(compareCursors('b', 'a')).toBeGreaterThan(0);
  });
});
