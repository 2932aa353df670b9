// What every command starts with: the config loaded, secrets registered, the state opened.
import { loadConfig, type LoadedConfig } from '../config/load.js';
import type { SyncConfig } from '../config/schema.js';
import type { DeliveryObserver } from '../delivery/destination.js';
import { Workspace } from '../engine/workspace.js';
import { registerSecrets } from '../redact.js';
import { StateStore } from '../state/store.js';

export interface GlobalOptions {
  config: string;
  json?: boolean;
}

export function load(options: GlobalOptions): LoadedConfig {
  const loaded = loadConfig(options.config);
  registerSecrets(loaded.secrets);
  return loaded;
}

/** A workspace over the state; `readOnly` never creates or changes the state file. */
export async function withWorkspace<T>(
  options: GlobalOptions,
  readOnly: boolean,
  work: (workspace: Workspace) => Promise<T>,
  observer?: DeliveryObserver,
): Promise<T> {
  const loaded = load(options);
  const state = readOnly ? StateStore.openForReading(loaded.statePath) : StateStore.open(loaded.statePath);
  const workspace = new Workspace(loaded, state, observer);
  try {
    return await work(workspace);
  } finally {
    await workspace.close();
    state.close();
  }
}

/** A model-backed sync's source, as validate and plan print it. */
export function describeModel(sync: SyncConfig): string {
  const model = sync.dbtModel;
  if (!model) return '';
  return `dbt ${model.resourceType} ${model.qualifiedName} → ${model.relation}; primary key ${sync.primaryKey} (${model.primaryKeyFrom})`;
}
