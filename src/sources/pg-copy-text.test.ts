// PostgreSQL's COPY text format: NULL against the text "\N", escapes, and lines that are not COPY's.
import { describe, expect, it } from 'vitest';
import { copyFields, copyRowDecoder, unescapeField } from './pg-copy-text.js';

const line = (text: string) => `${text}\n`;

describe('copyFields', () => {
  it('reads \\N as NULL, an empty field as empty text, and an escaped \\\\N as the text \\N', () => {
    expect(copyFields('\\N\t\t\\\\N\tN')).toEqual([null, '', '\\N', 'N']);
  });

  it('turns every escape COPY TO writes back into its character', () => {
    expect(copyFields('a\\tb\\nc\\\\d\\re\\bf\\fg\\vh')).toEqual(['a\tb\nc\\d\re\bf\fg\vh']);
    // A JSON value's own backslashes arrive doubled.
    expect(copyFields('{"q": "say \\\\"hi\\\\"", "path": "C:\\\\\\\\tmp"}')).toEqual(['{"q": "say \\"hi\\"", "path": "C:\\\\tmp"}']);
  });

  it('keeps unicode and control characters COPY does not escape as they are', () => {
    expect(copyFields('zoë 🚀 中文\t\u0001')).toEqual(['zoë 🚀 中文', '\u0001']);
  });

  it('refuses escapes COPY TO never writes, rather than guessing their meaning', () => {
    expect(() => unescapeField('\\101')).toThrow('unexpected escape "\\1" in the COPY data');
    expect(() => unescapeField('\\x41')).toThrow('unexpected escape "\\x"');
    expect(() => unescapeField('trailing\\')).toThrow('unexpected escape "\\"');
  });
});

describe('copyRowDecoder', () => {
  const decode = copyRowDecoder([
    { name: 'id', parse: Number },
    { name: 'name', parse: (text) => text },
    { name: 'id', parse: (text) => `second ${text}` },
  ]);

  it('builds a row column by column with each column’s parser; NULL is never parsed', () => {
    expect(decode(line('7\t\\N\tx'))).toEqual({ id: 'second x', name: null });
    expect(decode(line('7\tAda\t\\N'))).toEqual({ id: null, name: 'Ada' });
  });

  it('fails on a line that does not match the query’s columns', () => {
    expect(() => decode(line('1\t2'))).toThrow('a COPY line holds 2 columns where the query returns 3');
    expect(() => decode('1\t2\t3')).toThrow('a COPY line does not end with a newline');
  });
});
