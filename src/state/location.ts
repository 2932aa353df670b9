// Where a config keeps its state, and the one place a store is opened for it: a SQLite file (the
// embedded default) or a PostgreSQL schema shared by a fleet. Callers see only the store contract.
import type { Store } from './contract.js';
import { describePgLocation } from './pg/connection.js';
import { PgStateStore } from './pg/store.js';
import { StateStore } from './store.js';

export const DEFAULT_STATE_PATH = './.backflow/state.db';

export type StateLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string; schema: string };

/** For messages and logs: the file, or the database URL without its password and the schema. */
export function describeStateLocation(location: StateLocation): string {
  return location.kind === 'sqlite' ? location.path : describePgLocation(location);
}

/** Opens the state (creating and migrating it); `readOnly` never creates or changes it (plan, status). */
export function openStore(location: StateLocation, readOnly = false): Store {
  if (location.kind === 'postgres') return PgStateStore.open(location, { readonly: readOnly });
  return readOnly ? StateStore.openForReading(location.path) : StateStore.open(location.path);
}

export function sameLocation(a: StateLocation, b: StateLocation): boolean {
  return describeStateLocation(a) === describeStateLocation(b);
}
