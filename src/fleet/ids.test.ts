import { describe, expect, it } from 'vitest';
import { jobsSchemaFor, queueFor, syncOfQueue, tickJobId } from './ids.js';

describe('tick job ids', () => {
  it('are the same for the same sync and instant, on any member', () => {
    const instant = new Date('2026-12-07T15:00:05.000Z');
    expect(tickJobId('users', instant)).toBe(tickJobId('users', new Date(instant.getTime())));
  });

  it('differ between instants and between syncs', () => {
    const instant = new Date('2026-12-07T15:00:05.000Z');
    const ids = new Set([tickJobId('users', instant), tickJobId('users', new Date('2026-12-07T15:00:06.000Z')), tickJobId('accounts', instant)]);
    expect(ids.size).toBe(3);
  });

  it('are UUIDs PostgreSQL accepts (version 8, RFC variant)', () => {
    expect(tickJobId('users', new Date(0))).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});

describe('queue and schema names', () => {
  it('give each sync its own queue and read the sync back', () => {
    expect(queueFor('users-to.crm')).toBe('sync.users-to.crm');
    expect(syncOfQueue('sync.users-to.crm')).toBe('users-to.crm');
    expect(syncOfQueue('__pgboss__send-it')).toBeUndefined();
  });

  it('put pg-boss beside the state schema, and refuse a name pg-boss cannot use unquoted', () => {
    expect(jobsSchemaFor('backflow')).toBe('backflow_jobs');
    expect(() => jobsSchemaFor('Backflow-State')).toThrow(/state.schema "Backflow-State".*lowercase letters/);
    expect(() => jobsSchemaFor('x'.repeat(46))).toThrow(/at most 45 characters/);
  });
});
