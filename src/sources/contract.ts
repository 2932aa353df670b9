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

export interface SourceReader {
  /** Streams the rows of a read in batches of at most `batchSize`. */
  read(request: ReadRequest): AsyncIterable<Row[]>;
  /** Column names the read would return, without reading rows (`validate --connect`). */
  columns(request: ReadRequest): Promise<string[]>;
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
  /** Setting names whose values must be redacted (passwords inside URLs count). */
  secrets: ReadonlyArray<string>;
  /** `configDir` resolves relative file paths the way the config file reads them. */
  open(settings: z.infer<Settings>, context: { configDir: string }): Promise<SourceReader>;
}
