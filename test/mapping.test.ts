// Mapping and fingerprints: each mapping form the README documents, each transform, nulls, and stable hashes.
import { describe, expect, it } from 'vitest';
import { mappingValue } from '../src/config/schema.js';
import { compileMapping, MappingError } from '../src/mapping/index.js';
import { diffPayloads } from '../src/plan/diff.js';
import { canonicalJson, fingerprint, rowHasher } from '../src/fingerprint.js';

const map = (mapping: Record<string, unknown>, row: Record<string, unknown>) =>
  compileMapping(Object.fromEntries(Object.entries(mapping).map(([key, value]) => [key, mappingValue.parse(value)])))(row);

describe('mapping forms', () => {
  it('reads columns, constants and templates into dotted targets', () => {
    const payload = map(
      {
        externalId: 'id',
        displayName: { template: '{{first_name}} {{last_name}}' },
        'tags.plan': 'plan',
        'tags.tier': { value: 'gold' },
        'metadata.source': { value: 'warehouse' },
      },
      { id: 7, first_name: 'Ada', last_name: 'Lovelace', plan: 'pro' },
    );
    expect(payload).toEqual({ externalId: 7, displayName: 'Ada Lovelace', tags: { plan: 'pro', tier: 'gold' }, metadata: { source: 'warehouse' } });
  });

  it('reads a dotted source into a JSON column, whether an object or JSON text', () => {
    const mapping = { email: 'traits.email', city: 'traits.address.city' };
    expect(map(mapping, { traits: { email: 'a@x.io', address: { city: 'Lagos' } } })).toEqual({ email: 'a@x.io', city: 'Lagos' });
    expect(map(mapping, { traits: '{"email":"b@x.io","address":{"city":"Oslo"}}' })).toEqual({ email: 'b@x.io', city: 'Oslo' });
  });

  it('prefers a column literally named with a dot', () => {
    expect(map({ email: 'traits.email' }, { 'traits.email': 'flat@x.io', traits: { email: 'nested@x.io' } })).toEqual({ email: 'flat@x.io' });
  });
});

describe('nulls', () => {
  it('leave the field out by default, so an empty column never wipes the destination', () => {
    expect(map({ name: 'name', email: 'email' }, { name: null, email: 'a@x.io' })).toEqual({ email: 'a@x.io' });
  });

  it('are sent as null with onNull: send, and replaced by a default when given', () => {
    expect(map({ name: { column: 'name', onNull: 'send' }, plan: { column: 'plan', default: 'free' } }, { name: null, plan: null })).toEqual({
      name: null,
      plan: 'free',
    });
  });

  it('make a template whose every placeholder is null count as null', () => {
    expect(map({ displayName: { template: '{{first}} {{last}}' } }, { first: null, last: null })).toEqual({});
    expect(map({ displayName: { template: '{{first}} {{last}}' } }, { first: 'Ada', last: null })).toEqual({ displayName: 'Ada ' });
  });
});

describe('transforms', () => {
  const one = (transform: unknown, value: unknown) => map({ out: { column: 'v', transform } }, { v: value }).out;

  it('convert text, numbers, booleans and dates', () => {
    expect(one('upper', 'ng')).toBe('NG');
    expect(one('lower', 'A@X.IO')).toBe('a@x.io');
    expect(one('trim', '  a  ')).toBe('a');
    expect(one(['trim', 'lower'], '  MiXed ')).toBe('mixed');
    expect(one('string', 42)).toBe('42');
    expect(one('number', '12.50')).toBe(12.5);
    expect(one('integer', '12')).toBe(12);
    expect(one('boolean', 'yes')).toBe(true);
    expect(one('boolean', 0)).toBe(false);
    expect(one('iso8601', '2026-03-01 10:00:00Z')).toBe('2026-03-01T10:00:00.000Z');
    expect(one('iso8601', 1767225600)).toBe('2026-01-01T00:00:00.000Z');
    expect(one('date', new Date('2026-05-04T23:00:00Z'))).toBe('2026-05-04');
    expect(one('json', '{"a":[1,2]}')).toEqual({ a: [1, 2] });
  });

  it('refuse values of the wrong type with the field and the reason', () => {
    const attempt = (transform: string, value: unknown) => () => one(transform, value);
    expect(attempt('number', 'twelve')).toThrow(new MappingError('out', 'transform number: expected a number, got "twelve"'));
    expect(attempt('integer', '1.5')).toThrow('transform integer: expected a whole number, got 1.5');
    expect(attempt('boolean', 'maybe')).toThrow('expected a boolean (true/false, yes/no, 1/0), got "maybe"');
    expect(attempt('iso8601', 'not a date')).toThrow('expected a date, got "not a date"');
    expect(attempt('json', '{oops')).toThrow('expected JSON text');
  });

  it('are skipped for nulls (the null rule applies first)', () => {
    expect(map({ out: { column: 'v', transform: 'number' } }, { v: null })).toEqual({});
  });
});

describe('warehouse values', () => {
  it('become JSON-plain: dates as ISO text, safe bigints as numbers, buffers as base64', () => {
    expect(
      map({ a: 'd', b: 'big', c: 'huge', d: 'bytes' }, { d: new Date('2026-01-02T03:04:05Z'), big: 12n, huge: 2n ** 70n, bytes: Buffer.from('hi') }),
    ).toEqual({
      a: '2026-01-02T03:04:05.000Z',
      b: 12,
      c: '1180591620717411303424',
      d: 'aGk=',
    });
  });
});

describe('fingerprints', () => {
  it('ignore key order at every depth', () => {
    expect(fingerprint({ a: 1, b: { x: 1, y: [1, { p: 1, q: 2 }] } })).toBe(fingerprint({ b: { y: [1, { q: 2, p: 1 }], x: 1 }, a: 1 }));
    expect(canonicalJson({ b: 1, a: undefined, c: null })).toBe('{"b":1,"c":null}');
  });

  it('change with any value, type or array order', () => {
    const base = fingerprint({ id: '1', tags: { plan: 'pro' }, list: [1, 2] });
    expect(fingerprint({ id: '1', tags: { plan: 'free' }, list: [1, 2] })).not.toBe(base);
    expect(fingerprint({ id: 1, tags: { plan: 'pro' }, list: [1, 2] })).not.toBe(base);
    expect(fingerprint({ id: '1', tags: { plan: 'pro' }, list: [2, 1] })).not.toBe(base);
  });

  it('are stable across runs (a pinned value guards against accidental changes of the hash)', () => {
    expect(fingerprint({ externalId: '1', email: 'a@x.io' })).toBe(fingerprint(JSON.parse('{"email":"a@x.io","externalId":"1"}')));
    expect(fingerprint({ externalId: '1' })).toMatchInlineSnapshot(`"KLktpAvfHIWmpSetemg0DNMQfa_rnZQC"`);
  });
});

describe('row hashes', () => {
  const mapping = { externalId: 'id', email: { column: 'email', transform: ['trim', 'lower'] } };
  const rowHash = rowHasher('gamifyhost', mapping);

  it('are equal for equal rows, dates compared by instant', () => {
    expect(rowHash({ id: 1, at: new Date('2026-01-01T00:00:00Z') })).toBe(rowHash({ id: 1, at: new Date(Date.UTC(2026, 0, 1)) }));
    expect(rowHash({ id: 1 })).toMatch(/^[\w-]{32}$/);
  });

  it('tell apart values of other types, other columns, and text that needs escaping', () => {
    const rows = [
      1,
      '1',
      1n,
      1.5,
      null,
      undefined,
      true,
      'true',
      'null',
      new Date(1),
      'D1',
      '"1"',
      'a"b',
      'a\\b',
      'a\nb',
      '\u00e9',
      { v: 1 },
      '{"v":1}',
      [1],
      Buffer.from('1'),
    ].map((value) => ({ id: 7, value }));
    const hashes = rows.map(rowHash);
    expect(new Set(hashes).size).toBe(rows.length);
    expect(rowHash({ id: 7, other: 1 })).not.toBe(rowHash({ id: 7, value: 1 }));
    expect(rowHash({ id: 7, value: { n: 1n } })).not.toBe(rowHash({ id: 7, value: { n: 2n } }));
    // Rows with dates (written another way) still tell every value apart.
    const at = new Date(5);
    expect(rowHash({ id: 7, at, value: 5 })).not.toBe(rowHash({ id: 7, at: 5, value: at }));
    expect(rowHash({ id: 7, at, value: 'D5' })).not.toBe(rowHash({ id: 7, at, value: at }));
    expect(rowHash({ id: 7, at, value: 1n })).not.toBe(rowHash({ id: 7, at, value: '1n' }));
  });

  it('change with the mapping and the connector, so a new mapping compares payloads again', () => {
    const row = { id: 1, email: 'A@x.io' };
    expect(rowHasher('gamifyhost', { ...mapping, email: 'email' })(row)).not.toBe(rowHash(row));
    expect(rowHasher('vitally', mapping)(row)).not.toBe(rowHash(row));
    expect(rowHasher('gamifyhost', { ...mapping })(row)).toBe(rowHash(row));
  });
});

describe('field diffs', () => {
  it('list changed leaves with old and new values, nested paths dotted', () => {
    expect(diffPayloads({ id: '1', name: 'A', tags: { plan: 'free', x: 1 } }, { id: '1', name: 'B', tags: { plan: 'pro' }, email: 'e' })).toEqual([
      { field: 'email', new: 'e' },
      { field: 'name', old: 'A', new: 'B' },
      { field: 'tags.plan', old: 'free', new: 'pro' },
      { field: 'tags.x', old: 1 },
    ]);
  });
});
