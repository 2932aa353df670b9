// dbt's manifest.json as Backflow needs it: the relations dbt builds (models, seeds, snapshots), the
// tests attached to each, and resolving a sync's `model:` to the relation it reads.
import { isObject, MANIFEST, readArtifact, type Json } from './artifact.js';
import { describeRef, type ModelRef } from './model-ref.js';
import { primaryKeyOf, testColumn, type KeyHint, type KeyProblem } from './primary-key.js';
import { closestNames } from '../config/closest.js';

/** The resource types a sync may read: what dbt builds as a relation and what ref() can name. */
const RELATION_TYPES = new Set(['model', 'seed', 'snapshot']);

interface RelationNode {
  uniqueId: string;
  name: string;
  package: string;
  resourceType: string;
  relationName: string | null;
  materialized?: string;
  version?: string;
  latestVersion?: string;
  meta: Json;
  constraints: unknown[];
  columns: Record<string, { constraints: unknown[] }>;
}

export interface TestNode {
  uniqueId: string;
  name: string;
  /** The relations the test is about: its attached node, or every relation it depends on (a singular test). */
  on: string[];
  kind?: string;
  column?: string;
}

/** A sync's model, resolved: the relation to read, and the key the model declares. */
export interface ResolvedModel {
  uniqueId: string;
  /** package.name, as a user would qualify it. */
  qualifiedName: string;
  resourceType: string;
  /** As dbt wrote it, quoted for the warehouse's adapter, e.g. "analytics"."main"."dim_users". */
  relation: string;
  /** The manifest file it came from. */
  manifest: string;
  primaryKey?: KeyHint | KeyProblem;
}

const text = (value: unknown) => (typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined);
const list = (value: unknown) => (Array.isArray(value) ? value : []);
const record = (value: unknown) => (isObject(value) ? value : {});

function relationNode(node: Json): RelationNode {
  const config = record(node.config);
  const columns = Object.fromEntries(Object.entries(record(node.columns)).map(([name, column]) => [name, { constraints: list(record(column).constraints) }]));
  return {
    uniqueId: String(node.unique_id),
    name: String(node.name),
    package: String(node.package_name),
    resourceType: String(node.resource_type),
    relationName: text(node.relation_name) ?? null,
    materialized: text(config.materialized),
    version: text(node.version),
    latestVersion: text(node.latest_version),
    // dbt 1.10 moves meta into config; earlier versions keep both in step.
    meta: { ...record(node.meta), ...record(config.meta) },
    constraints: list(node.constraints),
    columns,
  };
}

function testNode(node: Json, relations: Map<string, RelationNode>): TestNode {
  const metadata = record(node.test_metadata);
  const attached = text(node.attached_node);
  const dependsOn = list(record(node.depends_on).nodes).filter((id): id is string => typeof id === 'string' && relations.has(id));
  const namespace = text(metadata.namespace);
  return {
    uniqueId: String(node.unique_id),
    name: String(node.name),
    on: attached ? [attached] : dependsOn,
    kind: !namespace || namespace === 'dbt' ? text(metadata.name) : undefined,
    column: testColumn(node.column_name ?? record(metadata.kwargs).column_name),
  };
}

export class DbtManifest {
  private readonly relations = new Map<string, RelationNode>();
  private readonly tests = new Map<string, TestNode[]>();
  /** Names of disabled models, seeds and snapshots (enabled: false), for a clearer "unknown model". */
  private readonly disabled = new Set<string>();
  readonly invocationId?: string;
  readonly projectName?: string;

  private constructor(
    readonly file: string,
    readonly version: number,
    json: Json,
    metadata: Json,
  ) {
    this.invocationId = text(metadata.invocation_id);
    this.projectName = text(metadata.project_name);
    const nodes = Object.values(record(json.nodes)).filter(isObject);
    for (const node of nodes) if (RELATION_TYPES.has(String(node.resource_type))) this.relations.set(String(node.unique_id), relationNode(node));
    for (const node of nodes) {
      if (node.resource_type !== 'test') continue;
      const test = testNode(node, this.relations);
      for (const id of test.on) this.tests.set(id, [...(this.tests.get(id) ?? []), test]);
    }
    for (const versions of Object.values(record(json.disabled))) {
      for (const node of list(versions).filter(isObject)) if (RELATION_TYPES.has(String(node.resource_type))) this.disabled.add(String(node.name));
    }
  }

  /** Reads and indexes a manifest; throws DbtArtifactError with what to do. */
  static load(file: string, whereFrom: string): DbtManifest {
    const { json, version, metadata } = readArtifact(file, MANIFEST, whereFrom);
    return new DbtManifest(file, version, json, metadata);
  }

  /** The tests in the manifest that are about this relation. */
  testsOn(uniqueId: string): TestNode[] {
    return this.tests.get(uniqueId) ?? [];
  }

  /** The relation a `model:` names, or why it names none (with the closest names). */
  resolve(ref: ModelRef): { model: ResolvedModel } | { error: string } {
    const all = [...this.relations.values()];
    const named = all.filter((node) => node.name === ref.name);
    const candidates = named.filter((node) => !ref.package || node.package === ref.package);
    const where = `in the ${MANIFEST.label} ${this.file}`;
    if (candidates.length === 0) {
      if (named.length > 0) {
        return { error: `no model ${describeRef(ref)} ${where}: "${ref.name}" is in ${named.map((node) => `${node.package}.${node.name}`).join(', ')}` };
      }
      if (this.disabled.has(ref.name)) return { error: `dbt model ${ref.name} is disabled (enabled: false) ${where}: enable it, or sync another model` };
      const names = [...new Set(all.map((node) => node.name))];
      const closest = closestNames(ref.name, names);
      const hint = closest.length > 0 ? `: did you mean ${closest.join(', ')}?` : ` (it has ${names.length} models, seeds and snapshots; dbt ls lists them)`;
      return { error: `no dbt model named "${ref.name}" ${where}${hint}` };
    }

    const chosen = this.pickVersions(candidates, ref);
    if ('error' in chosen) return chosen;
    if (chosen.nodes.length > 1) {
      const names = chosen.nodes.map((node) => `${node.package}.${node.name}`).sort();
      return {
        error: `"${ref.name}" names ${chosen.nodes.length} dbt models in different packages: ${names.join(', ')}; write one of them (e.g. model: ${names[0]})`,
      };
    }
    const node = chosen.nodes[0];
    if (node.materialized === 'ephemeral' || !node.relationName) {
      const why = node.materialized === 'ephemeral' ? 'is ephemeral, so dbt builds no relation for it' : `has no relation_name ${where}`;
      return { error: `dbt ${node.resourceType} ${node.package}.${node.name} ${why}: materialize it as a table or view to sync it` };
    }
    return {
      model: {
        uniqueId: node.uniqueId,
        qualifiedName: `${node.package}.${node.name}`,
        resourceType: node.resourceType,
        relation: node.relationName,
        manifest: this.file,
        primaryKey: primaryKeyOf({ ...node, ...this.keyTests(node.uniqueId) }),
      },
    };
  }

  /** Versioned models: the pinned version, or each package's latest_version, as dbt's ref() picks. */
  private pickVersions(candidates: RelationNode[], ref: ModelRef): { nodes: RelationNode[] } | { error: string } {
    if (ref.version !== undefined) {
      const pinned = candidates.filter((node) => node.version === ref.version);
      if (pinned.length > 0) return { nodes: pinned };
      const versions = candidates.map((node) => node.version).filter(Boolean);
      return { error: `dbt model ${ref.name} has no version ${ref.version}${versions.length ? ` (it has ${versions.join(', ')})` : ' (it is not versioned)'}` };
    }
    return { nodes: candidates.filter((node) => node.version === undefined || node.version === node.latestVersion) };
  }

  private keyTests(uniqueId: string) {
    const tests = this.testsOn(uniqueId).filter((test) => test.column && test.on.length === 1);
    return {
      uniqueTests: tests.filter((test) => test.kind === 'unique').map((test) => ({ name: test.name, column: test.column! })),
      notNullColumns: new Set(tests.filter((test) => test.kind === 'not_null').map((test) => test.column!)),
    };
  }
}
