// A PostgreSQL state of a test's own: a fresh schema name in the `test` database, dropped (with the
// job engine's schema beside it) when the test ends, so runs never collide.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { onTestFinished } from 'vitest';

export const PG_STATE_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** Runs SQL on the test database as the admin user. */
export async function pgAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client(PG_STATE_URL);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A schema name no other test uses; the schema (if any run created it) is dropped when the test ends. */
export function pgStateSchema(): string {
  const schema = `bf_${randomBytes(6).toString('hex')}`;
  onTestFinished(() =>
    pgAdmin(async (client) => {
      await client.query(`drop schema if exists ${schema} cascade`);
      await client.query(`drop schema if exists ${schema}_jobs cascade`);
    }),
  );
  return schema;
}
