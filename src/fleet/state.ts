// Whether a loaded config's state is a fleet's (PostgreSQL, state.url) and where: the daemon, `trigger`
// and `status` ask this one function. A sandbox's own state file is never a fleet's.
import type { LoadedConfig } from '../config/load.js';
import type { PgLocation } from '../state/pg/connection.js';

/** Where a fleet's state is: its PostgreSQL database and schema. */
export type FleetState = PgLocation;

export function fleetStateOf(loaded: LoadedConfig): FleetState | undefined {
  const location = loaded.stateLocation;
  return location.kind === 'postgres' ? { url: location.url, schema: location.schema } : undefined;
}
