// Incremental syncs: the cursor binds as :cursor (or Backflow filters past it), and moves only past
// rows that were all confirmed.
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { planSync } from '../src/engine/plan.js';
import { runSync } from '../src/engine/sync.js';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import type { ReceivedRequest } from '../sandbox/http-emulator.js';
import { gamifyConfig, gamifyWarehouse, sqliteExec, workspaceFor } from './helpers/index.js';

const keyOf = (request: ReceivedRequest) => (request.body as { externalId: string }).externalId;

describe.each([
  ['Backflow filters past the cursor', 'select * from users'],
  ['the query binds :cursor itself', '"select * from users where :cursor is null or updated_at > :cursor"'],
])('incremental sync when %s', (_label, query) => {
  let dir: string;
  let emulator: GamifyHostEmulator;

  // updated_at ascends with id: 2026-01-01T00:00:01Z … :10Z
  beforeEach(async () => ({ dir, emulator } = await gamifyWarehouse(10)));

  const workspace = () => workspaceFor(gamifyConfig({ url: emulator.url, query, syncExtra: '    cursor: updated_at' }), dir);

  it('reads only rows past the stored cursor on the next run', async () => {
    const ws = workspace();
    const first = await runSync(ws, ws.syncNamed('users'));
    expect(first.counts).toMatchObject({ read: 10, sent: 10 });
    expect(ws.state.getCursor('users')).toBe('2026-01-01T00:00:10Z');

    sqliteExec(path.join(dir, 'warehouse.db'), "update users set plan = 'team', updated_at = '2026-02-01T00:00:00Z' where id = 3");
    const plan = await planSync(ws, ws.syncNamed('users'));
    expect(plan.full).toBe(false);
    expect(plan.counts).toMatchObject({ changed: 1, unchanged: 0, removed: 0 });

    const second = await runSync(ws, ws.syncNamed('users'));
    expect(second.counts).toMatchObject({ read: 1, sent: 1 });
    expect(ws.state.getCursor('users')).toBe('2026-02-01T00:00:00Z');
  });

  it('does not move the cursor past a rejected row, so it is read and retried next run', async () => {
    emulator.inject({ kind: 'status', status: 400, body: { status: 'error', message: 'Invalid request body' } }, 1, (request) => keyOf(request) === '6');
    const ws = workspace();
    const first = await runSync(ws, ws.syncNamed('users'));
    expect(first.counts).toMatchObject({ sent: 9, rejected: 1 });
    // Rows 1-5 were all confirmed; row 6 was not: the cursor stops just below it.
    expect(ws.state.getCursor('users')).toBe('2026-01-01T00:00:05Z');

    const second = await runSync(ws, ws.syncNamed('users'));
    expect(second.counts).toMatchObject({ read: 5, retry: 1, sent: 1, unchanged: 4 });
    expect(ws.state.getCursor('users')).toBe('2026-01-01T00:00:10Z');
    expect(emulator.received.map(keyOf).filter((key) => key === '6')).toHaveLength(2);
  });

  it('reads everything again with --full, and reports removed rows only then', async () => {
    const ws = workspace();
    await runSync(ws, ws.syncNamed('users'));
    sqliteExec(path.join(dir, 'warehouse.db'), 'delete from users where id = 2');
    expect((await planSync(ws, ws.syncNamed('users'))).counts.removed).toBe(0);
    const full = await planSync(ws, ws.syncNamed('users'), { full: true });
    expect(full.counts).toMatchObject({ unchanged: 9, removed: 1 });
  });
});
