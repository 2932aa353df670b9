// End to end through the CLI: plan and sync a SQLite warehouse to the GamifyHost emulator.
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { runCli, sqliteExec, sqliteTable, tempDir, users, writeFile } from './helpers/index.js';

const CONFIG = `
version: 1
state: { path: ./state.db }
sources:
  warehouse: { type: sqlite, path: ./warehouse.db }
destinations:
  gamify:
    type: gamifyhost
    apiKey: \${GAMIFY_KEY}
    baseUrl: \${GAMIFY_URL}
    rateLimit: { requestsPerSecond: 200 }
    retry: { attempts: 3, baseDelayMs: 20 }
syncs:
  - name: users
    source: warehouse
    query: select * from users
    primaryKey: id
    destination: gamify
    mapping:
      externalId: id
      displayName: name
      email: email
      country: { column: country, transform: upper }
      tags.plan: plan
      metadata.source: { value: warehouse }
`;

describe('syncing a warehouse to GamifyHost', () => {
  let emulator: GamifyHostEmulator;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    emulator = new GamifyHostEmulator(['pk_test_secret_key_123']);
    dir = tempDir();
    env = { GAMIFY_KEY: 'pk_test_secret_key_123', GAMIFY_URL: await emulator.start() };
    writeFile(dir, 'backflow.yaml', CONFIG);
    sqliteTable(path.join(dir, 'warehouse.db'), 'users', users(25));
  });
  afterEach(() => emulator.stop());

  const cli = (...args: string[]) => runCli(['--config', path.join(dir, 'backflow.yaml'), ...args], { env });

  it('sends every record once, shaped by the mapping, and nothing on a second run', async () => {
    const first = await cli('sync');
    expect(first.code).toBe(0);
    expect(emulator.sentBodies).toHaveLength(25);
    expect(emulator.sentBodies.find((body) => body.externalId === '7')).toEqual({
      externalId: '7',
      displayName: 'User 7',
      email: 'user7@example.com',
      country: 'US',
      tags: { plan: 'free' },
      metadata: { source: 'warehouse' },
    });
    expect(emulator.received[0].headers['x-api-key']).toBe('pk_test_secret_key_123');

    const second = await cli('sync');
    expect(second.code).toBe(0);
    expect(emulator.received).toHaveLength(25);
    expect(second.stdout).toContain('unchanged 25');
  });

  it('plans only the changed rows, field by field, without calling the destination', async () => {
    await cli('sync');
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set plan = 'enterprise' where id = 4; update users set name = 'Renamed' where id = 9");
    const requestsBefore = emulator.received.length;

    const plan = await cli('plan', '--json');
    expect(plan.code).toBe(2);
    const document = JSON.parse(plan.stdout);
    expect(document.syncs[0].counts).toMatchObject({ changed: 2, unchanged: 23, added: 0 });
    expect(document.syncs[0].records).toEqual([
      expect.objectContaining({ key: '4', class: 'changed', changes: [{ field: 'tags.plan', old: 'pro', new: 'enterprise' }] }),
      expect.objectContaining({ key: '9', class: 'changed', changes: [{ field: 'displayName', old: 'User 9', new: 'Renamed' }] }),
    ]);
    expect(emulator.received.length).toBe(requestsBefore);

    await cli('sync');
    expect(emulator.received.length).toBe(requestsBefore + 2);
    const again = await cli('plan');
    expect(again.code).toBe(0);
  });
});
