// The source contract: a source streams rows in bounded batches, read-only, never the whole table.
import type { z } from 'zod';

export type Row = Record<string, unknown>;

/** What a sync asks of its source on one run. */
export interface ReadRequest {
  /** The sync's SQL (SQL sources); stream sources may ignore it. */
  query?: string;
  /** Column whose value orders incremental reads, if the sync is incremental. */
  cursorColumn?: string;
  /**
   * Resume point for an incremental read, or null to read everything. When the query contains
   * `:cursor` it is bound there (as null on a full read); otherwise the source adds
   * `WHERE <cursorColumn> > <cursor>` around the query itself.
   */
  cursor: unknown;
  /** Rows per batch: the unit of memory the source may hold. */
  batchSize: number;
}

/** What a pushdown read hashes in the database: the key column and the source columns the mapping reads. */
export interface PushdownSpec {
  primaryKey: string;
  /** Names the mapping reads (a dotted name reads into a JSON column: the column is hashed). */
  columns: string[];
}

/**
 * A two-pass read (SourceReader.pushdown): every row's key and the database's hash of its mapped
 * columns first, then the full rows of chosen keys, both from one open database.
 */
export interface PushdownSession {
  /** Describes what the hashes cover (column types, engine version): part of the stored hash. */
  signature: string;
  /** The query's column names (checked against the mapping before pass 1 reads a row). */
  columns: string[];
  /** Pass 1, in batches: each row's key (as read() returns it), the key as the database's text, its hash. */
  keyHashes(batchSize: number): AsyncIterable<{ keys: unknown[]; keyTexts: string[]; hashes: string[] }>;
  /** Pass 2: the rows (as read() returns them) whose key text is one of `keyTexts`, each with its hash now. */
  rowsFor(keyTexts: string[]): Promise<{ rows: Row[]; hashes: string[] }>;
  close(): Promise<void>;
}

export interface SourceReader {
  /** Streams the rows of a read in batches of at most `batchSize`. */
  read(request: ReadRequest): AsyncIterable<Row[]>;
  /** Column names the read would return, without reading rows (`validate --connect`). */
  columns(request: ReadRequest): Promise<string[]>;
  /** Opens a two-pass read of a full read's rows (sources that can hash in the database). */
  pushdown?(request: ReadRequest, spec: PushdownSpec): Promise<PushdownSession>;
  close(): Promise<void>;
}

/** A source type as the config and the engine see it. */
export interface SourceType<Settings extends z.ZodObject = z.ZodObject> {
  type: string;
  title: string;
  /** Connector-style settings (without `type`); `.describe()` texts feed the JSON Schema. */
  settings: Settings;
  /** Whether syncs from this source need a `query` (a source that does not need one refuses one). */
  needsQuery: boolean;
  /**
   * What a sync from this source uses when it names no `primaryKey` / `cursor` (a stream source
   * knows its own key and change order). A source without defaults requires `primaryKey`.
   */
  defaults?: { primaryKey: string; cursor?: string };
  /** Whether its reader offers `pushdown` (a sync's `pushdown: true` is refused otherwise). */
  pushdown?: boolean;
  /** Setting names whose values must be redacted (passwords inside URLs count). */
  secrets: ReadonlyArray<string>;
  /** `configDir` resolves relative file paths the way the config file reads them. */
  open(settings: z.infer<Settings>, context: { configDir: string }): Promise<SourceReader>;
}
