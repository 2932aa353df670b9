// validate resolves every model through the manifest: unknown and ambiguous names, unreadable or
// unsupported manifests, and the primary key a model declares, each with a clear, positioned message.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { runCli, sqliteTable, tempDir, users, writeFile } from '../helpers/index.js';
import { manifest, writeManifest, withSchemaVersion, runResults, type ModelSpec } from './artifacts.js';
import { dbtConfig, modelSync } from './config-text.js';

const URL = 'http://127.0.0.1:9';
const dimUsers: ModelSpec = { name: 'dim_users', relation: 'main."dim_users"', tests: [{ kind: 'unique', column: 'id' }] };

/** A folder with backflow.yaml (syncs as given) and target/manifest.json (models as given). */
function project(syncs: string, models: ModelSpec[] = [dimUsers], version?: 10 | 11 | 12): { dir: string; file: string } {
  const dir = tempDir();
  writeManifest(dir, { version, adapter: 'sqlite', models });
  return { dir, file: writeFile(dir, 'backflow.yaml', dbtConfig({ url: URL, syncs })) };
}

/** Where `needle` starts in the file, as line:column (1-based), to check positions against. */
function positionOf(file: string, needle: string): string {
  const lines = fs.readFileSync(file, 'utf8').split('\n');
  const line = lines.findIndex((text) => text.includes(needle));
  return `${line + 1}:${lines[line].indexOf(needle) + 1}`;
}

/** The problems parseConfig finds, as "path: message". */
function problems(dir: string, syncs: string): string[] {
  try {
    const loaded = parseConfig(dbtConfig({ url: URL, syncs }), path.join(dir, 'backflow.yaml'));
    return loaded.config.syncs.map((sync) => `ok ${sync.name}: ${sync.query} key ${sync.primaryKey} (${sync.dbtModel?.primaryKeyFrom})`);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((issue) => `${issue.path}: ${issue.message}`);
    throw error;
  }
}

describe('validate with a dbt manifest', () => {
  it.each([10, 11, 12] as const)('resolves a model in a manifest v%i and says which relation and key it uses', async (version) => {
    const { file } = project(modelSync('users', "ref('dim_users')"), [dimUsers], version);
    const result = await runCli(['validate', '-c', file]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('sync "users": dbt model shop.dim_users → main."dim_users"; primary key id (its unique test unique_dim_users_id)');
  });

  it('with --connect, reads each model and names the model and relation that is missing from the warehouse', async () => {
    const { dir, file } = project(modelSync('users', 'dim_users'));
    sqliteTable(path.join(dir, 'warehouse.db'), 'users', users(1));
    const result = await runCli(['validate', '--connect', '-c', file]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      `sync "users": cannot run the query: source "warehouse" (sqlite): no such table: main.dim_users. Sync "users" reads dbt model shop.dim_users as main."dim_users"`,
    );
  });

  it('reports an unknown model at its line and column, with the closest model names', async () => {
    const models = [dimUsers, { name: 'dim_user_events', relation: 'main."dim_user_events"' }, { name: 'fct_orders', relation: 'main."fct_orders"' }];
    const { file } = project(modelSync('users', 'dim_user'), models);
    const result = await runCli(['validate', '-c', file]);
    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `${file}:${positionOf(file, 'dim_user')}: syncs[0].model: no dbt model named "dim_user" in the dbt manifest ${path.join(path.dirname(file), 'target/manifest.json')}: did you mean dim_users, dim_user_events?`,
    );
  });

  it('says a name in several packages is ambiguous, lists the qualified names, and resolves each of them', async () => {
    const models = [dimUsers, { ...dimUsers, package: 'crm', relation: 'main."crm_users"' }];
    const { dir, file } = project(modelSync('users', 'dim_users'), models);
    const result = await runCli(['validate', '-c', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      `${positionOf(file, 'dim_users')}: syncs[0].model: "dim_users" names 2 dbt models in different packages: crm.dim_users, shop.dim_users; write one of them (e.g. model: crm.dim_users)`,
    );
    expect(problems(dir, modelSync('a', 'crm.dim_users') + modelSync('b', "\"ref('shop', 'dim_users')\""))).toEqual([
      'ok a: select * from main."crm_users" key id (its unique test unique_dim_users_id)',
      'ok b: select * from main."dim_users" key id (its unique test unique_dim_users_id)',
    ]);
  });

  it('gives one clear message, at dbt.manifest, for a missing, malformed or unsupported manifest', async () => {
    const { dir, file } = project(modelSync('users', 'dim_users'));
    const manifestFile = path.join(dir, 'target/manifest.json');
    const at = `${file}:${positionOf(file, './target/manifest.json')}: dbt.manifest: `;
    const cases: [string | null, string][] = [
      [
        null,
        `cannot read the dbt manifest ${manifestFile}: file not found. Run dbt parse in the dbt project to write it, or fix the path (dbt.manifest is relative to the config file)`,
      ],
      ['{"metadata": {"dbt_schema_version": ', `the dbt manifest ${manifestFile} is not valid JSON (`],
      ['{"nodes": {}}', `${manifestFile} is not a dbt manifest: it has no metadata.dbt_schema_version`],
      [
        JSON.stringify(withSchemaVersion(manifest({ models: [dimUsers] }), 'manifest', 9)),
        `${manifestFile} is dbt manifest v9, written by dbt 1.5.11; Backflow reads dbt manifest v10, v11, v12 (dbt 1.6 to 1.10): upgrade dbt and run dbt parse again`,
      ],
      [
        JSON.stringify(withSchemaVersion(manifest({ models: [dimUsers] }), 'manifest', 13)),
        `${manifestFile} is dbt manifest v13, written by dbt 1.12.0; Backflow reads dbt manifest v10, v11, v12 (dbt 1.6 to 1.10): upgrade Backflow, or write it with a dbt it knows`,
      ],
      [JSON.stringify(runResults({ results: [] })), `${manifestFile} is a dbt run-results artifact, not the dbt manifest: point at dbt's manifest.json`],
    ];
    for (const [content, message] of cases) {
      if (content === null) fs.rmSync(manifestFile);
      else fs.writeFileSync(manifestFile, content);
      const result = await runCli(['validate', '-c', file]);
      expect(result.code).toBe(1);
      const lines = result.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0].startsWith(at + message), lines[0]).toBe(true);
    }
  });

  it('refuses a model without a dbt section, beside a query, or that resolves to no relation', () => {
    const dir = tempDir();
    writeManifest(dir, {
      models: [dimUsers, { name: 'int_users', relation: null, materialized: 'ephemeral' }, { name: 'old_users', relation: 'main."old_users"', disabled: true }],
    });
    expect(problems(dir, modelSync('a', 'dim_users', '    query: select * from users\n'))).toEqual([
      'syncs[0].model: a sync reads a query or a dbt model, not both: remove one',
    ]);
    expect(problems(dir, modelSync('a', 'int_users', '    primaryKey: id\n') + modelSync('b', 'old_users') + modelSync('c', '"ref(dim_users)"'))).toEqual([
      'syncs[0].model: dbt model shop.int_users is ephemeral, so dbt builds no relation for it: materialize it as a table or view to sync it',
      `syncs[1].model: dbt model old_users is disabled (enabled: false) in the dbt manifest ${path.join(dir, 'target/manifest.json')}: enable it, or sync another model`,
      `syncs[2].model: "ref(dim_users)": cannot read the argument "dim_users" of ref(): expected a model name (dim_users), package.name (shop.dim_users), or ref('dim_users') / ref('shop', 'dim_users')`,
    ]);
    const fromSegment = dbtConfig({ url: URL, syncs: modelSync('a', 'dim_users'), source: '{ type: segment, writeKeys: [wk_test_key] }' });
    expect(() => parseConfig(fromSegment, path.join(dir, 'backflow.yaml'))).toThrow('syncs[0].model: a segment source reads no dbt model: remove model');
    const withoutDbt = dbtConfig({ url: URL, syncs: modelSync('a', 'dim_users') }).replace(/dbt:\n {2}manifest: .*\n/, '');
    expect(() => parseConfig(withoutDbt, path.join(dir, 'backflow.yaml'))).toThrow(
      'syncs[0].model: model needs the dbt manifest: add dbt: { manifest: ./target/manifest.json } at the top of the config',
    );
  });

  it('reads seeds, snapshots and versioned models as ref() does: the latest version unless one is pinned', () => {
    const dir = tempDir();
    writeManifest(dir, {
      models: [
        { name: 'countries', resourceType: 'seed', relation: 'main."countries"', meta: { primary_key: 'code' } },
        { name: 'users_snapshot', resourceType: 'snapshot', relation: 'snapshots."users_snapshot"', meta: { primary_key: 'dbt_scd_id' } },
        { name: 'dim_users', relation: 'main."dim_users_v1"', version: 1, latestVersion: 2, tests: [{ kind: 'unique', column: 'id' }] },
        { name: 'dim_users', relation: 'main."dim_users_v2"', version: 2, latestVersion: 2, tests: [{ kind: 'unique', column: 'user_id' }] },
      ],
    });
    const syncs = [
      modelSync('a', 'countries'),
      modelSync('b', '"ref(\'users_snapshot\')"'),
      modelSync('c', 'dim_users'),
      modelSync('d', '"ref(\'dim_users\', v=1)"'),
      modelSync('e', "\"{{ ref('shop', 'dim_users', version=2) }}\""),
    ];
    expect(problems(dir, syncs.join(''))).toEqual([
      'ok a: select * from main."countries" key code (meta primary_key)',
      'ok b: select * from snapshots."users_snapshot" key dbt_scd_id (meta primary_key)',
      'ok c: select * from main."dim_users_v2" key user_id (its unique test unique_dim_users_user_id)',
      'ok d: select * from main."dim_users_v1" key id (its unique test unique_dim_users_id)',
      'ok e: select * from main."dim_users_v2" key user_id (its unique test unique_dim_users_user_id)',
    ]);
    expect(problems(dir, modelSync('a', '"ref(\'dim_users\', v=3)"'))).toEqual(['syncs[0].model: dbt model dim_users has no version 3 (it has 1, 2)']);
  });
});

describe('the primary key of a model-backed sync', () => {
  const keyOf = (model: Partial<ModelSpec>, extra = '') => {
    const dir = tempDir();
    writeManifest(dir, { models: [{ name: 'dim_users', relation: 'main."dim_users"', ...model }] });
    return problems(dir, modelSync('users', 'dim_users', extra))[0];
  };

  it('comes from meta backflow.primary_key first, then meta primary_key (also in config.meta), a primary_key constraint, then a unique test', () => {
    const unique = [{ kind: 'unique' as const, column: 'id' }];
    expect(keyOf({ meta: { backflow: { primary_key: 'user_key' }, primary_key: 'other' }, tests: unique })).toContain(
      'key user_key (meta backflow.primary_key)',
    );
    expect(keyOf({ configMeta: { primary_key: ['email'] }, tests: unique })).toContain('key email (meta primary_key)');
    expect(keyOf({ constraints: [{ type: 'primary_key', columns: ['account_id'] }], tests: unique })).toContain('key account_id (its primary_key constraint)');
    expect(keyOf({ columns: ['uid'], columnConstraints: { uid: [{ type: 'not_null' }, { type: 'primary_key' }] } })).toContain(
      'key uid (its primary_key constraint)',
    );
    expect(keyOf({ tests: [...unique, { kind: 'not_null', column: 'id' }] })).toContain('key id (its unique test unique_dim_users_id)');
  });

  it("is the sync's own primaryKey when it sets one, whatever the model declares", () => {
    expect(keyOf({ tests: [{ kind: 'unique', column: 'id' }] }, '    primaryKey: email\n')).toBe(
      'ok users: select * from main."dim_users" key email (set on the sync)',
    );
  });

  it('prefers the unique column that is also not_null, and asks when the choice is still open', () => {
    const tests = [
      { kind: 'unique' as const, column: 'id' },
      { kind: 'unique' as const, column: 'email' },
    ];
    expect(keyOf({ tests: [...tests, { kind: 'not_null', column: 'email' }] })).toContain('key email (its unique test unique_dim_users_email)');
    expect(keyOf({ tests })).toBe(
      'syncs[0].primaryKey: required: primaryKey: cannot take it from dbt model shop.dim_users: it has unique tests on id, email: set primaryKey on the sync to choose one. Set primaryKey on this sync, or give the model a unique test or meta: { backflow: { primary_key: id } }',
    );
  });

  it('is required, with a clear message, when the model declares none or a composite one', () => {
    expect(keyOf({})).toBe(
      'syncs[0].primaryKey: required: primaryKey: dbt model shop.dim_users declares no key. Set primaryKey on this sync, or give the model a unique test or meta: { backflow: { primary_key: id } }',
    );
    expect(keyOf({ meta: { primary_key: ['account_id', 'user_id'] } })).toContain(
      'meta primary_key lists 2 columns; Backflow keys a record on one column: add a single key column (e.g. dbt_utils.generate_surrogate_key) and name it',
    );
  });
});
