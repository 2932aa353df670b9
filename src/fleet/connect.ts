// A connection pool on the fleet's PostgreSQL whose search_path is the state schema, where the
// member tables live (pg-boss opens its own, on its own schema).
import pg from 'pg';
import type { Logger } from '../log.js';
import { schemaConnection } from '../state/pg/connection.js';
import { jobsSchemaFor } from './ids.js';

export function fleetPool(url: string, schema: string, log?: Logger): pg.Pool {
  jobsSchemaFor(schema); // refuses a schema name the job queue could not use, before connecting
  const pool = new pg.Pool({ ...schemaConnection({ url, schema }), max: 4 });
  // An idle connection the server dropped (a restart) is replaced on next use; it must not end the process.
  pool.on('error', (error) => log?.warn({ err: error }, 'a fleet database connection was lost (reconnecting on next use)'));
  return pool;
}
