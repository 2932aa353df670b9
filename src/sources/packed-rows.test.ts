// Rows packed for the trip between threads come back exactly as they left: same columns, same
// order, same values of every type, and rows of differing shapes are left as objects.
import { describe, expect, it } from 'vitest';
import { packRows, unpackRows } from './packed-rows.js';

describe('packRows', () => {
  it('packs rows of one shape under one list of columns and unpacks them equal, with every value type', () => {
    const rows = [
      {
        id: 1,
        name: 'Zoë 😀',
        born: new Date('2026-01-01T00:00:00Z'),
        big: 9007199254740993n,
        ok: true,
        data: { a: [1, null] },
        bytes: new Uint8Array([104, 105]) /* a Buffer crosses threads as this */,
        gone: null,
      },
      { id: 2, name: '', born: null, big: '12345678901234567890', ok: false, data: null, bytes: null, gone: undefined },
    ];
    const packed = packRows(rows);
    expect('columns' in packed && packed.columns).toEqual(['id', 'name', 'born', 'big', 'ok', 'data', 'bytes', 'gone']);
    const back = unpackRows(structuredClone(packed));
    expect(back).toEqual(rows);
    expect(back.map((row) => Object.keys(row))).toEqual(rows.map((row) => Object.keys(row)));
    expect('gone' in back[1]).toBe(true);
  });

  it('leaves rows as objects when their columns differ (another name, another order, one more or fewer)', () => {
    for (const second of [{ id: 2, other: 'x' }, { name: 'b', id: 2 }, { id: 2, name: 'b', extra: 1 }, { id: 2 }]) {
      const rows = [{ id: 1, name: 'a' }, second];
      expect(packRows(rows)).toEqual({ objects: rows });
      expect(unpackRows(packRows(rows))).toEqual(rows);
    }
    expect(unpackRows(packRows([]))).toEqual([]);
  });
});
