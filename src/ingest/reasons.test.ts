import { describe, expect, it } from 'vitest';
import { INGEST_REASONS } from './reasons.js';

describe('INGEST_REASONS', () => {
  it('is a small set of fixed snake_case labels, with nothing a client could vary', () => {
    expect(INGEST_REASONS.length).toBeLessThanOrEqual(25);
    expect(new Set(INGEST_REASONS).size).toBe(INGEST_REASONS.length);
    for (const reason of INGEST_REASONS) expect(reason).toMatch(/^[a-z]+(_[a-z]+)*$/);
  });
});
