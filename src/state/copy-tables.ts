// What `backflow state copy` moves, and the two halves every engine implements: a reader of a
// consistent snapshot in batches, and a writer into one transaction on the target.
import { COPIED_TABLES } from './pg/migrations.js';

export type CopiedTable = (typeof COPIED_TABLES)[number];

/**
 * The columns copied, per table: every column both engines' migrations define (test/state-copy.test.ts
 * checks that against both). PostgreSQL's run_issues.seq is left out: the target numbers its own, in
 * the order the issues are read (the source's insertion order).
 */
export const COPIED_COLUMNS: Record<CopiedTable, readonly string[]> = {
  runs: ['id', 'sync', 'started_at', 'ended_at', 'outcome', 'full', 'counts', 'error', 'pid'],
  run_issues: ['run_id', 'key', 'class', 'status', 'reason'],
  records: ['sync', 'key', 'fingerprint', 'payload', 'sent_at', 'run_id', 'row_hash', 'source_hash'],
  rejections: ['sync', 'key', 'fingerprint', 'status', 'reason', 'attempts', 'first_at', 'last_at', 'run_id'],
  pending_records: ['sync', 'key', 'fingerprint', 'payload', 'row_hash', 'source_hash', 'job_id', 'run_id', 'sent_at'],
  cursors: ['sync', 'value', 'updated_at'],
  generations: ['sync', 'generation'],
  mappings: ['sync', 'hash', 'updated_at'],
};

/** The order rows are read in: the primary key; `null` is the table's insertion order (run issues). */
export const COPY_ORDER: Record<CopiedTable, readonly string[] | null> = {
  runs: ['id'],
  run_issues: null,
  records: ['sync', 'key'],
  rejections: ['sync', 'key'],
  pending_records: ['sync', 'key', 'fingerprint'],
  cursors: ['sync'],
  generations: ['sync'],
  mappings: ['sync'],
};

/** Rows per read and per insert: a batch, never a whole table, is in memory. */
export const COPY_BATCH_ROWS = 500;

export interface StateReader {
  /** The holders of a sync lock that are alive, described (a run going on would commit after the copy read). */
  liveLocks(expiryMs: number): Promise<string[]>;
  /** The table's rows, as arrays in `COPIED_COLUMNS` order, in batches of at most COPY_BATCH_ROWS. */
  batches(table: CopiedTable): AsyncIterable<unknown[][]>;
  close(): Promise<void>;
}

export interface StateWriter {
  /** The state tables (locks included) that hold any row. */
  tablesWithRows(): Promise<string[]>;
  /** Starts the one transaction every insert runs in, holding the tables against other writers. */
  begin(): Promise<void>;
  insert(table: CopiedTable, rows: unknown[][]): Promise<void>;
  /** Moves the run id sequence past the copied runs, and commits. */
  commit(): Promise<void>;
  /** Rolls back what was written (if begun) and closes. */
  close(): Promise<void>;
}

export { COPIED_TABLES };

/** The tables a target must hold no row in: the copied ones, and locks (someone is using that state). */
export const STATE_TABLES: readonly string[] = [...COPIED_TABLES, 'locks'];
