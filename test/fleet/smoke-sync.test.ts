// A sync on PostgreSQL state through the real CLI: sends every user once, then nothing.
import { expect, it } from 'vitest';
import { gamifyConfig, gamifyWarehouse, runCli, writeFile } from '../helpers/index.js';
import { PG_STATE_URL, pgStateSchema } from '../helpers/pg-state.js';

it('syncs on PostgreSQL state, sharing the fleet budget, and sends nothing the second time', async () => {
  const { dir, emulator } = await gamifyWarehouse(30);
  const schema = pgStateSchema();
  writeFile(
    dir,
    'backflow.yaml',
    gamifyConfig({ url: emulator.url }).replace('state: { path: ./state.db }', `state: { url: "${PG_STATE_URL}", schema: ${schema} }`),
  );
  const first = await runCli(['sync', '--config', 'backflow.yaml'], { cwd: dir });
  expect(first.stderr).toBe('');
  expect(first.code).toBe(0);
  expect(emulator.profiles.size).toBe(30);
  const requests = emulator.received.length;
  const second = await runCli(['sync', '--config', 'backflow.yaml'], { cwd: dir });
  expect(second.code).toBe(0);
  expect(emulator.received.length).toBe(requests);
});
