// The value rules every source follows: exact integers, JSON text as its value.
import { describe, expect, it } from 'vitest';
import { exactInteger, parseJson } from './values.js';

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
