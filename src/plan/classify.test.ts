// The classifier alone, over a Map-backed state: every class, repeated keys within and across
// batches, retries, mapping changes, pushdown's two passes, and what it asks the state to write.
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { fingerprint } from '../fingerprint.js';
import type { KeyRead, KnownRecords, RunReads, StandingRejection, StoredRecord } from '../state/contract.js';
import { Classifier, type PlannedRecord, type SendableRecord } from './classify.js';

const STARTED = '2026-12-03T10:00:00.000Z';

/** A record confirmed before this run: its payload, and the row hash it was sent from. */
interface Known {
  payload: { email: string; plan?: string };
  rowHash?: string;
  sourceHash?: string;
}

/** What a state knows, in Maps; and the run's reads, in a Map of key → settled. */
class MapState implements Pick<KnownRecords, 'recordCount' | 'lookup' | 'rowHashes' | 'sourceHashes' | 'confirmedPayloads'>, RunReads {
  readonly reads = new Map<string, { settled: boolean; cursor: unknown }>();
  constructor(
    readonly records = new Map<string, Known>(),
    readonly rejections = new Map<string, StandingRejection>(),
  ) {}
  recordCount(): number {
    return this.records.size;
  }
  private pick<V>(keys: string[], value: (known: Known) => V): Map<string, V> {
    return new Map(keys.flatMap((key) => (this.records.has(key) ? [[key, value(this.records.get(key)!)] as [string, V]] : [])));
  }
  lookup(_sync: string, keys: string[]) {
    const rejections = new Map(keys.flatMap((key) => (this.rejections.has(key) ? [[key, this.rejections.get(key)!] as const] : [])));
    return { records: this.pick(keys, (known) => fingerprint(known.payload)), rejections };
  }
  rowHashes(_sync: string, keys: string[]) {
    return this.pick(keys, (known) => known.rowHash ?? null);
  }
  sourceHashes(_sync: string, keys: string[]) {
    return this.pick(keys, (known) => known.sourceHash ?? null);
  }
  confirmedPayloads(_sync: string, keys: string[]) {
    return this.pick(keys, (known) => JSON.stringify(known.payload));
  }
  noteReads(reads: KeyRead[], settled: boolean): string[] {
    const before = reads.filter((read) => this.reads.has(read.key)).map((read) => read.key);
    for (const read of reads) if (!this.reads.has(read.key)) this.reads.set(read.key, { settled, cursor: read.cursor });
    return before;
  }
  markSettled(keys: string[]): void {
    for (const key of keys) this.reads.get(key)!.settled = true;
  }
  safeCursor(): unknown {
    return null;
  }
  unseenKeys(_sync: string, after: string, limit: number): StoredRecord[] {
    return [...this.records.keys()]
      .filter((key) => key > after && !this.reads.has(key))
      .sort()
      .slice(0, limit)
      .map((key) => ({ key, fingerprint: fingerprint(this.records.get(key)!.payload) }));
  }
}

/** A standing rejection of sync users, refused once. */
const rejection = (fields: Pick<StandingRejection, 'key' | 'fingerprint' | 'reason' | 'status'> & Partial<StandingRejection>): StandingRejection => ({
  sync: 'users',
  attempts: 1,
  firstAt: 'x',
  lastAt: 'x',
  runId: 1,
  ...fields,
});

const payload = z.strictObject({ email: z.string().email(), plan: z.string().optional() });

function classifierOver(state: MapState, mapping: Record<string, string> = { email: 'email', plan: 'plan' }): Classifier {
  return new Classifier({
    sync: 'users',
    primaryKey: 'id',
    cursorColumn: 'updated_at',
    mapping,
    connector: { payload },
    known: state,
    reads: state,
    startedAt: STARTED,
  });
}

/** Rows with a row hash each: the hash is the row's own text here, as good as any for equality. */
function batch(rows: Record<string, unknown>[]) {
  return { rows, rowHashes: rows.map((row) => JSON.stringify(row)) };
}

const row = (id: number | null, email: string, plan?: string, updated = `2026-12-0${(id ?? 1) % 9}`) => ({ id, email, plan, updated_at: updated });
const classes = (records: PlannedRecord[]) => records.map((record) => `${record.key}:${record.class}`);

describe('Classifier', () => {
  it('classifies added, changed, unchanged, invalid and retry records, in row order', () => {
    const state = new MapState(
      new Map<string, Known>([
        ['2', { payload: { email: 'b@x.io', plan: 'free' } }],
        ['3', { payload: { email: 'c@x.io' } }],
        ['5', { payload: { email: 'e@x.io' } }],
      ]),
      new Map([['5', rejection({ key: '5', fingerprint: 'older', reason: '422: bad plan', status: 422 })]]),
    );
    const { records, writes } = classifierOver(state).classify(
      batch([row(1, 'a@x.io'), row(2, 'b@x.io', 'pro'), row(3, 'c@x.io'), row(4, 'not an email'), row(5, 'e@x.io', 'team'), row(null, 'n@x.io')]),
    );
    expect(classes(records)).toEqual(['1:added', '2:changed', '3:unchanged', '4:invalid', '5:retry', '(null):invalid']);
    const [added, changed, , invalid, retry, nullKey] = records as [
      SendableRecord,
      SendableRecord,
      PlannedRecord,
      PlannedRecord,
      SendableRecord,
      PlannedRecord,
    ];
    expect(added.payload).toEqual({ email: 'a@x.io' });
    expect(added.fingerprint).toBe(fingerprint({ email: 'a@x.io' }));
    expect(changed.changes).toEqual([{ field: 'plan', old: 'free', new: 'pro' }]);
    expect(retry).toMatchObject({ reason: '422: bad plan', changedAt: STARTED, changes: [{ field: 'plan', new: 'team' }] });
    expect(invalid).toMatchObject({ class: 'invalid', reason: expect.stringContaining('email') });
    expect(nullKey).toMatchObject({ reason: 'primary key column "id" is null or missing in this row' });
    // Record 3 was sent from a row never hashed so: its row hash is written; nothing else is.
    expect(writes).toEqual({ rowHashes: [{ key: '3', rowHash: JSON.stringify(row(3, 'c@x.io')) }], sourceHashes: [] });
    // Unchanged and invalid records need nothing more; sendable ones wait for their confirmation.
    expect(Object.fromEntries([...state.reads].map(([key, read]) => [key, read.settled]))).toEqual({
      '1': false,
      '2': false,
      '3': true,
      '4': true,
      '5': false,
    });
    expect(state.reads.get('1')?.cursor).toBe('2026-12-01');
  });

  it('knows an unchanged row by its hash alone, without mapping it', () => {
    const unchanged = row(1, 'a@x.io');
    const state = new MapState(new Map([['1', { payload: { email: 'other@x.io' }, rowHash: JSON.stringify(unchanged) }]]));
    const { records, writes } = classifierOver(state).classify(batch([unchanged]));
    // The stored payload differs, but the row is the one it was sent from: nothing was compared.
    expect(classes(records)).toEqual(['1:unchanged']);
    expect(writes.rowHashes).toEqual([]);
  });

  it('keeps the first row of a key repeated within a batch or across batches; the others are invalid', () => {
    const state = new MapState();
    const classifier = classifierOver(state);
    const first = classifier.classify(batch([row(1, 'a@x.io'), row(1, 'b@x.io'), row(2, 'c@x.io')]));
    expect(classes(first.records)).toEqual(['1:added', '1:invalid', '2:added']);
    const second = classifier.classify(batch([row(2, 'd@x.io'), row(3, 'e@x.io')]));
    expect(classes(second.records)).toEqual(['2:invalid', '3:added']);
    expect(second.records[0]).toMatchObject({ reason: 'duplicate primary key: the query returned "2" more than once; only the first row is used' });
    // The repeat never settles the first row's entry, which still waits for its confirmation.
    expect(state.reads.get('2')).toEqual({ settled: false, cursor: '2026-12-02' });
  });

  it('dates a retry of the very version refused before from when it was first seen', () => {
    const refused = { email: 'a@x.io', plan: 'x' };
    const state = new MapState(
      new Map(),
      new Map([['1', rejection({ key: '1', fingerprint: fingerprint(refused), reason: '400', status: 400, firstAt: '2026-11-01T00:00:00.000Z' })]]),
    );
    const { records } = classifierOver(state).classify(batch([row(1, 'a@x.io', 'x')]));
    expect(records[0]).toMatchObject({ class: 'retry', changedAt: '2026-11-01T00:00:00.000Z', reason: '400' });
  });

  it('compares every row again by payload after a mapping change: a new field makes each record changed', () => {
    const state = new MapState(new Map([['1', { payload: { email: 'a@x.io' }, rowHash: 'made under the old mapping' }]]));
    const { records } = classifierOver(state, { email: 'email', plan: 'updated_at' }).classify(batch([row(1, 'a@x.io')]));
    expect(records[0]).toMatchObject({ class: 'changed', changes: [{ field: 'plan', new: '2026-12-01' }] });
  });

  it('lists records confirmed before and not read, once a full read is done, and none when all were read', () => {
    const known = new Map<string, Known>([
      ['1', { payload: { email: 'a@x.io' } }],
      ['2', { payload: { email: 'b@x.io' } }],
    ]);
    const partly = classifierOver(new MapState(new Map(known)));
    partly.classify(batch([row(1, 'a@x.io')]));
    expect([...partly.removed()].flat().map((record) => `${record.key}:${record.class}`)).toEqual(['2:removed']);
    const all = classifierOver(new MapState(new Map(known)));
    all.classify(batch([row(2, 'b@x.io'), row(1, 'a@x.io')]));
    expect([...all.removed()]).toEqual([]);
  });

  it('settles pushdown keys whose source hash is unchanged, and fetches the rest, writing the hash of an unchanged fetched row', () => {
    const state = new MapState(
      new Map<string, Known>([
        ['1', { payload: { email: 'a@x.io' }, sourceHash: 'h1' }],
        ['2', { payload: { email: 'b@x.io' }, sourceHash: 'old' }],
      ]),
    );
    const classifier = classifierOver(state);
    const { settled, fetch } = classifier.settleByHash([1, 2, 3, 3, null], ['h1', 'h2', 'h3', 'h3', 'hn']);
    expect(classes(settled)).toEqual(['3:invalid', '(null):invalid', '1:unchanged']);
    expect(fetch).toEqual([1, 2]);
    const fetched = classifier.classifyFetched(batch([row(2, 'b@x.io'), row(3, 'c@x.io')]), ['h2', 'h3']);
    expect(classes(fetched.records)).toEqual(['2:unchanged', '3:added']);
    expect(fetched.records[1].sourceHash).toBe('h3');
    expect(fetched.writes.sourceHashes).toEqual([{ key: '2', sourceHash: 'h2' }]);
  });

  it('stops with a SourceError before anything is classified when a mapped column is missing', () => {
    expect(() => classifierOver(new MapState()).classify(batch([{ id: 1, email: 'a@x.io', updated_at: 'x' }]))).toThrow(
      /the source returned no column "plan" \(read by the mapping\)/,
    );
  });
});
