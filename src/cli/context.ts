// What every command starts with: the config loaded, secrets registered, the state opened.
import { loadConfig, type ConfigOverrides, type LoadedConfig } from '../config/load.js';
import type { SyncConfig } from '../config/schema.js';
import type { DeliveryObserver } from '../delivery/destination.js';
import { Workspace } from '../engine/workspace.js';
import { registerSecrets } from '../redact.js';
import { openStore } from '../state/location.js';

export interface GlobalOptions {
  config: string;
  json?: boolean;
}

/**
 * Set by `backflow sandbox` for the command it runs (JSON ConfigOverrides): that command's
 * destinations point at local emulators, with fake credentials and a temporary state file.
 */
export const SANDBOX_ENV = 'BACKFLOW_SANDBOX';

let watchingSandbox = false;

function sandboxOverrides(): ConfigOverrides | undefined {
  const text = process.env[SANDBOX_ENV];
  if (!text) return undefined;
  if (!watchingSandbox) {
    watchingSandbox = true;
    // `backflow sandbox` holds our stdin open: when it ends, the sandbox process is gone (killed),
    // and its emulators with it. Stop as on SIGTERM rather than run on (a daemon) against nothing.
    process.stdin.on('end', () => process.kill(process.pid, 'SIGTERM')).resume();
    (process.stdin as { unref?: () => void }).unref?.();
  }
  return JSON.parse(text) as ConfigOverrides;
}

/** `connects: false`: a command that never opens a source or calls a destination (see LoadOptions). */
export function load(options: GlobalOptions, connects = true): LoadedConfig {
  const loaded = loadConfig(options.config, process.env, { connects, overrides: sandboxOverrides() });
  registerSecrets(loaded.secrets);
  return loaded;
}

/** A workspace over the state; `readOnly` never creates or changes the state file. */
export async function withWorkspace<T>(
  options: GlobalOptions,
  readOnly: boolean,
  work: (workspace: Workspace) => Promise<T>,
  observer?: DeliveryObserver,
  connects = true,
): Promise<T> {
  const loaded = load(options, connects);
  const state = openStore(loaded.stateLocation, readOnly);
  const workspace = new Workspace(loaded, state, observer);
  try {
    return await work(workspace);
  } finally {
    await workspace.close();
    state.close();
  }
}

/**
 * A workspace for a command that only reads or changes the state (status, runs, rejected, reset,
 * unlock): it needs none of the variables of sources, destinations or alerts.
 */
export async function withStateOnly<T>(options: GlobalOptions, readOnly: boolean, work: (workspace: Workspace) => Promise<T>): Promise<T> {
  return withWorkspace(options, readOnly, work, undefined, false);
}

/** A model-backed sync's source, as validate and plan print it. */
export function describeModel(sync: SyncConfig): string {
  const model = sync.dbtModel;
  if (!model) return '';
  return `dbt ${model.resourceType} ${model.qualifiedName} → ${model.relation}; primary key ${sync.primaryKey} (${model.primaryKeyFrom})`;
}
