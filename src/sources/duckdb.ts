// DuckDB source: a DuckDB database file (opened read-only) or plain files (Parquet, CSV, JSON) read by
// the query itself. Rows stream chunk by chunk; the database is opened only for the length of a read,
// so a long-running daemon never holds the file's lock against the job that rebuilds it.
import { z } from 'zod';
import type { SourceReader, SourceType } from './contract.js';

const settings = z.strictObject({
  path: z
    .string()
    .min(1)
    .optional()
    .describe(
      'DuckDB database file, relative to the config file; opened read-only. Leave it out to query files only (read_parquet, read_csv_auto) in an in-memory database.',
    ),
  memoryLimit: z
    .string()
    .regex(/^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'expected a size such as 512MB or 2GB')
    .optional()
    .describe("DuckDB's memory_limit, e.g. 1GB (DuckDB's default: 80% of the machine's memory)."),
});

export type DuckDBSettings = z.infer<typeof settings>;

export const duckdbSource: SourceType<typeof settings> = {
  type: 'duckdb',
  title: 'DuckDB database file (read-only), or Parquet/CSV/JSON files read by the query',
  settings,
  needsQuery: true,
  pushdown: true,
  secrets: [],
  async open(config, { configDir }): Promise<SourceReader> {
    const { openDuckDB } = await import('./duckdb-reader.js');
    return openDuckDB(config, configDir);
  },
};
