// Resolves every sync's `model:` through the config's dbt manifest when the config loads, so the
// engine only ever sees a query (select * from the relation dbt built) and a primary key.
import path from 'node:path';
import { DbtArtifactError, isObject } from './artifact.js';
import { DbtManifest, type ResolvedModel } from './manifest.js';
import { parseModelRef } from './model-ref.js';

/** A sync's model once resolved, as the rest of Backflow sees it. */
export interface SyncModel extends ResolvedModel {
  /** Where the sync's primary key came from: "set on the sync", or the model's declaration. */
  primaryKeyFrom: string;
}

export interface ModelIssue {
  path: (string | number)[];
  message: string;
}

export interface ModelResolution {
  manifest?: DbtManifest;
  /** By sync index: the model, and the primary key to use when the sync sets none. */
  models: Map<number, { model: SyncModel; primaryKey?: string }>;
  issues: ModelIssue[];
}

/** Reads the raw (interpolated) config, so its problems are reported with the schema's, all at once. */
export function resolveModels(raw: unknown, configDir: string): ModelResolution {
  const result: ModelResolution = { models: new Map(), issues: [] };
  const config = isObject(raw) ? raw : {};
  const manifestPath = isObject(config.dbt) ? config.dbt.manifest : undefined;
  // A missing or mistyped dbt section is the schema's (or, for a sync's model, the references') to report.
  if (typeof manifestPath !== 'string' || manifestPath === '') return result;
  try {
    result.manifest = DbtManifest.load(path.resolve(configDir, manifestPath), 'dbt.manifest is relative to the config file');
  } catch (error) {
    if (!(error instanceof DbtArtifactError)) throw error;
    result.issues.push({ path: ['dbt', 'manifest'], message: error.message });
    return result;
  }
  const syncs = Array.isArray(config.syncs) ? config.syncs : [];
  syncs.forEach((entry: unknown, index) => {
    if (!isObject(entry) || typeof entry.model !== 'string') return;
    const issue = (message: string, key = 'model') => void result.issues.push({ path: ['syncs', index, key], message });
    const ref = parseModelRef(entry.model);
    const resolved = 'error' in ref ? ref : result.manifest!.resolve(ref);
    if ('error' in resolved) return issue(resolved.error);
    const { model } = resolved;
    const hint = model.primaryKey;
    if (entry.primaryKey !== undefined) {
      result.models.set(index, { model: { ...model, primaryKeyFrom: 'set on the sync' } });
    } else if (hint && 'column' in hint) {
      result.models.set(index, { model: { ...model, primaryKeyFrom: hint.from }, primaryKey: hint.column });
    } else {
      const why = hint ? `cannot take it from dbt model ${model.qualifiedName}: ${hint.problem}` : `dbt model ${model.qualifiedName} declares no key`;
      issue(
        `required: primaryKey: ${why}. Set primaryKey on this sync, or give the model a unique test or meta: { backflow: { primary_key: id } }`,
        'primaryKey',
      );
    }
  });
  return result;
}
