// Builds dbt artifacts as dbt 1.6 to 1.10 write them: manifest.json (schema v10, v11, v12) and
// run_results.json (v4, v5, v6), with the node fields those versions carry, so tests never depend
// on copied files. Relation names are quoted as each adapter quotes them (relationName).
import crypto from 'node:crypto';
import { writeFile } from '../helpers/index.js';

type Json = Record<string, unknown>;
export type ManifestVersion = 10 | 11 | 12;
export type RunResultsVersion = 4 | 5 | 6;

/** The dbt release that writes each version (1.8, 1.9 and 1.10 all write manifest v12 and run results v6). */
const MANIFEST_DBT: Record<number, string> = { 9: '1.5.11', 10: '1.6.18', 11: '1.7.19', 12: '1.9.4', 13: '1.12.0' };
const RUN_RESULTS_DBT: Record<number, string> = { 3: '1.5.11', 4: '1.6.18', 5: '1.7.19', 6: '1.9.4', 7: '1.12.0' };

export const PROJECT = 'shop';

/**
 * relation_name as each adapter renders it: dbt-postgres and dbt-duckdb quote database, schema and
 * identifier; dbt-mysql leaves the database out and quotes with backticks; dbt-sqlite leaves the
 * database out and quotes only the identifier (schemas are attached database files, main by default).
 */
export const relationName = {
  postgres: (database: string, schema: string, table: string) => `"${database}"."${schema}"."${table}"`,
  duckdb: (database: string, schema: string, table: string) => `"${database}"."${schema}"."${table}"`,
  mysql: (_database: string, schema: string, table: string) => `\`${schema}\`.\`${table}\``,
  sqlite: (_database: string, schema: string, table: string) => `${schema}."${table}"`,
};

export interface TestSpec {
  kind: 'unique' | 'not_null' | 'accepted_values';
  column: string;
}

export interface ModelSpec {
  name: string;
  package?: string;
  resourceType?: 'model' | 'seed' | 'snapshot';
  /** null for an ephemeral model. */
  relation: string | null;
  materialized?: string;
  columns?: string[];
  meta?: Json;
  /** dbt 1.10 keeps meta in config. */
  configMeta?: Json;
  constraints?: Json[];
  columnConstraints?: Record<string, Json[]>;
  version?: number;
  latestVersion?: number;
  /** A disabled model sits in `disabled`, not in `nodes`. */
  disabled?: boolean;
  tests?: TestSpec[];
}

export const nodeId = (name: string, pkg = PROJECT, type = 'model', version?: number) => `${type}.${pkg}.${name}${version !== undefined ? `.v${version}` : ''}`;
export const testName = (spec: TestSpec, model: string) => `${spec.kind}_${model}_${spec.column}`;
export const testId = (spec: TestSpec, model: string, pkg = PROJECT) =>
  `test.${pkg}.${testName(spec, model)}.${crypto
    .createHash('md5')
    .update(model + spec.column)
    .digest('hex')
    .slice(0, 10)}`;

const checksum = (text: string) => ({ name: 'sha256', checksum: crypto.createHash('sha256').update(text).digest('hex') });

function relationNode(spec: ModelSpec, version: ManifestVersion): Json {
  const pkg = spec.package ?? PROJECT;
  const type = spec.resourceType ?? 'model';
  const parts = spec.relation ? spec.relation.split('.').map((part) => part.replace(/^["`]|["`]$/g, '')) : [];
  const [database, schema] = parts.length === 3 ? parts : [null, parts[0] ?? null];
  const code = `select * from {{ ref('stg_${spec.name}') }}`;
  const node: Json = {
    database,
    schema,
    name: spec.name,
    resource_type: type,
    package_name: pkg,
    path: `marts/${spec.name}.sql`,
    original_file_path: `${type === 'seed' ? 'seeds' : type === 'snapshot' ? 'snapshots' : 'models'}/marts/${spec.name}.sql`,
    unique_id: nodeId(spec.name, pkg, type, spec.version),
    fqn: [pkg, 'marts', spec.name],
    alias: parts.at(-1) ?? spec.name,
    checksum: checksum(code),
    config: {
      enabled: !spec.disabled,
      alias: null,
      schema: null,
      database: null,
      tags: [],
      meta: spec.configMeta ?? spec.meta ?? {},
      group: null,
      materialized: spec.materialized ?? (type === 'model' ? 'table' : type),
      incremental_strategy: null,
      persist_docs: {},
      quoting: {},
      column_types: {},
      full_refresh: null,
      unique_key: null,
      on_schema_change: 'ignore',
      grants: {},
      packages: [],
      docs: { show: true, node_color: null },
      contract: { enforced: false, alias_types: true },
      access: 'protected',
    },
    tags: [],
    description: '',
    columns: Object.fromEntries(
      (spec.columns ?? []).map((column) => [
        column,
        { name: column, description: '', meta: {}, data_type: null, constraints: spec.columnConstraints?.[column] ?? [], quote: null, tags: [] },
      ]),
    ),
    meta: spec.meta ?? {},
    group: null,
    docs: { show: true, node_color: null },
    patch_path: `${pkg}://models/marts/schema.yml`,
    build_path: null,
    unrendered_config: { materialized: spec.materialized ?? 'table' },
    created_at: 1767225600.0,
    relation_name: spec.relation,
    raw_code: code,
    language: 'sql',
    refs: [{ name: `stg_${spec.name}`, package: null, version: null }],
    sources: [],
    metrics: [],
    depends_on: { macros: [], nodes: [nodeId(`stg_${spec.name}`, pkg)] },
    compiled_path: null,
    contract: { enforced: false, alias_types: true, checksum: null },
    access: 'protected',
    constraints: spec.constraints ?? [],
    version: spec.version ?? null,
    latest_version: spec.latestVersion ?? null,
    deprecation_date: null,
  };
  if (version >= 12) node.time_spine = null;
  if (type !== 'model')
    for (const key of ['access', 'constraints', 'version', 'latest_version', 'deprecation_date', 'contract', 'time_spine']) delete node[key];
  return node;
}

function testNode(spec: TestSpec, model: ModelSpec): Json {
  const pkg = model.package ?? PROJECT;
  const name = testName(spec, model.name);
  const attached = nodeId(model.name, pkg, model.resourceType ?? 'model', model.version);
  return {
    database: 'analytics',
    schema: 'dbt_test__audit',
    name,
    resource_type: 'test',
    package_name: pkg,
    path: `${name}.sql`,
    original_file_path: 'models/marts/schema.yml',
    unique_id: testId(spec, model.name, pkg),
    fqn: [pkg, 'marts', name],
    alias: name,
    checksum: { name: 'none', checksum: '' },
    config: {
      enabled: true,
      severity: 'ERROR',
      materialized: 'test',
      warn_if: '!= 0',
      error_if: '!= 0',
      fail_calc: 'count(*)',
      store_failures: null,
      meta: {},
    },
    tags: [],
    description: '',
    columns: {},
    meta: {},
    relation_name: null,
    raw_code: `{{ test_${spec.kind}(**_dbt_generic_test_kwargs) }}`,
    language: 'sql',
    refs: [{ name: model.name, package: null, version: null }],
    sources: [],
    metrics: [],
    depends_on: { macros: [`macro.dbt.test_${spec.kind}`], nodes: [attached] },
    column_name: spec.column,
    file_key_name: `models.${model.name}`,
    attached_node: attached,
    test_metadata: { name: spec.kind, kwargs: { column_name: spec.column, model: `{{ get_where_subquery(ref('${model.name}')) }}` }, namespace: null },
  };
}

export interface ManifestOptions {
  version?: ManifestVersion;
  adapter?: string;
  models: ModelSpec[];
  invocationId?: string;
}

export function manifest(options: ManifestOptions): Json {
  const version = options.version ?? 12;
  const nodes: Json = {};
  const disabled: Json = {};
  for (const spec of options.models) {
    const node = relationNode(spec, version);
    if (spec.disabled) {
      disabled[node.unique_id as string] = [node];
      continue;
    }
    nodes[node.unique_id as string] = node;
    for (const test of spec.tests ?? []) nodes[testId(test, spec.name, spec.package)] = testNode(test, spec);
  }
  const json: Json = {
    metadata: {
      dbt_schema_version: `https://schemas.getdbt.com/dbt/manifest/v${version}.json`,
      dbt_version: MANIFEST_DBT[version],
      generated_at: '2026-03-01T06:00:00.000000Z',
      invocation_id: options.invocationId ?? crypto.randomUUID(),
      env: {},
      project_name: PROJECT,
      project_id: crypto.createHash('md5').update(PROJECT).digest('hex'),
      user_id: null,
      send_anonymous_usage_stats: false,
      adapter_type: options.adapter ?? 'postgres',
    },
    nodes,
    sources: {},
    macros: {},
    docs: {},
    exposures: {},
    metrics: {},
    groups: {},
    selectors: {},
    disabled,
    parent_map: {},
    child_map: {},
    group_map: {},
    semantic_models: {},
  };
  if (version >= 11) json.saved_queries = {};
  if (version >= 12) json.unit_tests = {};
  return json;
}

/** Writes target/manifest.json under `dir`; returns its path. */
export function writeManifest(dir: string, options: ManifestOptions): string {
  return writeFile(dir, 'target/manifest.json', JSON.stringify(manifest(options), null, 2));
}

export interface NodeResult {
  uniqueId: string;
  status: 'success' | 'error' | 'skipped' | 'pass' | 'fail' | 'warn' | 'partial success';
  message?: string | null;
}

export function runResults(options: { version?: RunResultsVersion; results: NodeResult[]; invocationId?: string }): Json {
  const version = options.version ?? 6;
  const results = options.results.map((result) => {
    const test = result.uniqueId.startsWith('test.');
    const entry: Json = {
      status: result.status,
      timing: [
        { name: 'compile', started_at: '2026-03-01T06:00:01.000000Z', completed_at: '2026-03-01T06:00:01.100000Z' },
        { name: 'execute', started_at: '2026-03-01T06:00:01.100000Z', completed_at: '2026-03-01T06:00:02.000000Z' },
      ],
      thread_id: 'Thread-1 (worker)',
      execution_time: 0.9,
      adapter_response: test ? {} : { _message: 'SELECT 10', code: 'SELECT', rows_affected: 10 },
      message: result.message === undefined ? (test ? null : 'SELECT 10') : result.message,
      failures: test ? (result.status === 'pass' ? 0 : 2) : null,
      unique_id: result.uniqueId,
    };
    if (version >= 5) Object.assign(entry, { compiled: true, compiled_code: 'select 1', relation_name: null });
    if (version >= 6) entry.batch_results = null;
    return entry;
  });
  return {
    metadata: {
      dbt_schema_version: `https://schemas.getdbt.com/dbt/run-results/v${version}.json`,
      dbt_version: RUN_RESULTS_DBT[version],
      generated_at: '2026-03-01T06:00:03.000000Z',
      invocation_id: options.invocationId ?? crypto.randomUUID(),
      env: {},
    },
    results,
    elapsed_time: 2.5,
    args: { which: 'build', select: [], exclude: [], indirect_selection: 'eager', vars: {}, target_path: 'target' },
  };
}

/** Writes target/run_results.json under `dir`; returns its path. */
export function writeRunResults(dir: string, options: Parameters<typeof runResults>[0]): string {
  return writeFile(dir, 'target/run_results.json', JSON.stringify(runResults(options), null, 2));
}

/** An artifact with another schema version (unsupported ones included), for version checks. */
export function withSchemaVersion(json: Json, kind: 'manifest' | 'run-results', version: number): Json {
  const metadata = json.metadata as Json;
  return {
    ...json,
    metadata: {
      ...metadata,
      dbt_schema_version: `https://schemas.getdbt.com/dbt/${kind}/v${version}.json`,
      dbt_version: (kind === 'manifest' ? MANIFEST_DBT : RUN_RESULTS_DBT)[version],
    },
  };
}
