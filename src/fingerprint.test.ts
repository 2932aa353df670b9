// The fingerprint's encoding is stored in every user's state: a faster canonicalJson must write the
// very same text, or every record would look changed and be sent again (issue 21, goal 7).
import { describe, expect, it } from 'vitest';
import { canonicalJson, fingerprint } from './fingerprint.js';

/** The encoding as first written (JSON.stringify of each value, keys always sorted): the reference. */
function reference(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  const record = value as Record<string, unknown>;
  const fields = Object.keys(record)
    .sort()
    .filter((key) => record[key] !== undefined)
    .map((key) => `${JSON.stringify(key)}:${reference(record[key])}`);
  return `{${fields.join(',')}}`;
}

const payloads: unknown[] = [
  { externalId: '42', displayName: 'Ada Lovelace', email: 'ada@example.com', country: 'NG', tags: { plan: 'pro' } },
  { b: 1, a: [{ d: null, c: 'x"y' }, 'tab\there', 'é😀', '\ud800', 'back\\slash'], z: { y: true, x: 1.5 }, e: 'ctrl\u0001', u: undefined },
  { é: 1, e: 2, E: 3, '': 4, '10': 5, '9': 6, 'a"b': 7 },
  { nested: [[], {}, [null, -0, 1e21, 0.1]], 'line\nbreak': '\u2028\u2029' },
  'plain',
  '"quoted"',
  null,
  3,
];

describe('canonicalJson', () => {
  it('writes the same text as the reference encoding, for sorted and unsorted keys and any text', () => {
    for (const payload of payloads) expect(canonicalJson(payload)).toBe(reference(payload));
  });

  it('keeps the fingerprints stored before the fast path (so existing state stays valid)', () => {
    // Taken from the release before issue 21.
    expect(
      fingerprint({
        externalId: '42',
        displayName: 'Ada Lovelace',
        email: 'ada@example.com',
        country: 'NG',
        tags: { plan: 'pro' },
        metadata: { updatedAt: '2026-01-01T00:01:00.000Z' },
      }),
    ).toBe('RmTiVYPf3SQyPlbRTuVnBJZvsucnr3L5');
    expect(fingerprint({ b: 1, a: [{ d: null, c: 'x"y' }, 'tab\there', 'é😀', '\ud800'], z: { y: true, x: 1.5 }, e: 'ctrl\u0001', u: undefined })).toBe(
      'J7QwM0QH2xpmPqPQb45E2myos-T5HDX3',
    );
  });
});
