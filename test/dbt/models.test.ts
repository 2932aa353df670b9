// A sync that names a dbt model reads the relation dbt built, on every SQL source, with incremental
// cursors and the model's own primary key; a relation gone from the warehouse is a clear source error.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { runCli, tempDir } from '../helpers/index.js';
import { contractUsers, duckdbFixture, mysqlFixture, postgresFixture, sqliteFixture, type SourceFixture, type Warehouse } from '../sources/fixtures.js';
import { relationName, writeManifest, type ManifestVersion } from './artifacts.js';
import { dbtConfig, modelSync } from './config-text.js';

/** Where each fixture's table lives, as the adapter's relation_name would say (see fixtures.ts for the names). */
function relationOf(fixture: SourceFixture, warehouse: Warehouse, table: string): string {
  switch (fixture.type) {
    case 'sqlite':
      return relationName.sqlite('', 'main', table);
    case 'duckdb':
      // DuckDB names a database file's catalog after the file: warehouse.duckdb is "warehouse".
      return relationName.duckdb('warehouse', 'main', table);
    case 'postgres':
      return relationName.postgres('test', /search_path%3D(\w+)/.exec(warehouse.source)![1], table);
    case 'mysql':
      return relationName.mysql('', /3306\/(\w+)/.exec(warehouse.source)![1], table);
  }
}

async function emulator(): Promise<GamifyHostEmulator> {
  const started = new GamifyHostEmulator(['pk_test_secret_key_123']);
  await started.start();
  onTestFinished(() => started.stop());
  return started;
}

// Each engine with the manifest version of a different dbt release, so every version is read for real.
const ENGINES: [SourceFixture, ManifestVersion][] = [
  [sqliteFixture, 10],
  [postgresFixture, 11],
  [mysqlFixture, 12],
  [duckdbFixture, 12],
];

describe.each(ENGINES)('a dbt model on a $type source', (fixture, version) => {
  // The model dim_users is built as the table "users" (dbt's alias), which the fixtures know how to fill.
  const setup = async (table = 'users') => {
    const dir = tempDir();
    const warehouse = await fixture.open(dir);
    await warehouse.createUsers(contractUsers(5));
    writeManifest(dir, {
      version,
      adapter: fixture.type,
      models: [
        {
          name: 'dim_users',
          relation: relationOf(fixture, warehouse, table),
          columns: ['id', 'email', 'updated_at'],
          tests: [
            { kind: 'unique', column: 'id' },
            { kind: 'not_null', column: 'id' },
          ],
        },
      ],
    });
    const gamify = await emulator();
    const config = (model: string) => dbtConfig({ url: gamify.url, source: warehouse.source, syncs: modelSync('users', model, '    cursor: updated_at\n') });
    return { dir, warehouse, gamify, config };
  };

  it(`reads the relation dbt built (manifest v${version}), keyed by the model's unique test, and incrementally past the cursor`, async () => {
    const { dir, warehouse, gamify, config } = await setup();
    const file = path.join(dir, 'backflow.yaml');
    fs.writeFileSync(file, config("ref('dim_users')"));

    const plan = await runCli(['plan', '-c', file]);
    expect(plan.stderr).toBe('');
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain(
      `reads dbt model shop.dim_users → ${relationOf(fixture, warehouse, 'users')}; primary key id (its unique test unique_dim_users_id)`,
    );

    const first = await runCli(['sync', '-c', file]);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    // Requests go out concurrently, so the order they arrive in is not the order of the rows.
    const sentKeys = () => gamify.sentBodies.map((body) => String(body.externalId)).sort();
    expect(sentKeys()).toEqual(['1', '2', '3', '4', '5']);
    expect(gamify.profile('3')).toMatchObject({ email: 'user3@example.com', displayName: 'User 3' });

    await warehouse.insertUsers(contractUsers(2, 6));
    const second = await runCli(['sync', '-c', file]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('read 2');
    expect(sentKeys()).toEqual(['1', '2', '3', '4', '5', '6', '7']);
  });

  it('fails the run with the model, the relation and what to do when the relation is gone from the warehouse', async () => {
    const { dir, config } = await setup('dim_customers');
    const file = path.join(dir, 'backflow.yaml');
    fs.writeFileSync(file, config('dim_users'));
    const result = await runCli(['sync', '-c', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`source "warehouse" (${fixture.type})`);
    expect(result.stdout).toContain('Sync "users" reads dbt model shop.dim_users as');
    expect(result.stdout).toContain('dim_customers');
    expect(result.stdout).toContain('build it (dbt build -s dim_users) against this warehouse, or refresh the manifest (dbt parse)');
  });
});
