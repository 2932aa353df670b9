// Batch delivery's plain parts: whether a destination batches and how big, and the grouping of records
// into requests (flushed on size, on bytes, or at the end of input). Shared by `sync`, which sends the
// groups, and `plan`, which counts them, so both agree on the number of requests.
import type { BatchShape, Connector, SendContext } from '../../connectors/contract.js';
import { isClientConnector } from '../../connectors/contract.js';
import type { DestinationConfig } from '../config/schema.js';

/** How a destination batches: its shape, the size in use, and the byte budget of one request body. */
export interface Batching {
  shape: BatchShape<Record<string, unknown>, unknown>;
  settings: Record<string, unknown>;
  size: number;
  maxBytes?: number;
  /** Bytes of the request body with no items (the envelope around the array). */
  envelopeBytes: number;
  /** For a vendor with background jobs: how long a run waits for its jobs before leaving them to the next run. */
  jobWaitMs: number;
}

/** How long a run waits for background jobs unless `batch.waitSeconds` says otherwise. */
export const DEFAULT_JOB_WAIT_SECONDS = 60;

/** The connector's own settings out of `destinations.<name>` (the common ones are the engine's). */
export function connectorSettings(connector: Connector, config: DestinationConfig): Record<string, unknown> {
  return connector.settings.parse(Object.fromEntries(Object.entries(config).filter(([key]) => key in connector.settings.shape)));
}

/**
 * The batching a destination uses: the connector's batch endpoint at `batch.size` (default: the
 * vendor's maximum), or null when the connector has none, the config says `batch: false`, or says
 * nothing of a connector that sends one by one unless asked.
 */
export function batchingOf(connector: Connector, config: DestinationConfig, settings = connectorSettings(connector, config)): Batching | null {
  if (isClientConnector(connector) || !connector.batch) return null;
  const chosen = config.batch;
  const waitSeconds = chosen ? chosen.waitSeconds : undefined;
  if (chosen === false || (chosen === undefined && connector.batch.byDefault === false)) return null;
  const shape = connector.batch;
  return {
    shape,
    settings,
    size: Math.min(chosen?.size ?? shape.maxSize, shape.maxSize),
    maxBytes: shape.maxBytes,
    envelopeBytes: jsonBytes(shape.request(settings, []).json),
    jobWaitMs: (waitSeconds ?? DEFAULT_JOB_WAIT_SECONDS) * 1000,
  };
}

export function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

/** One record inside a batch, and the bytes its element adds to the body. */
export function batchItem(batching: Batching, payload: unknown, context: SendContext): { item: unknown; bytes: number } {
  const item = batching.shape.item(batching.settings, payload, context);
  return { item, bytes: jsonBytes(item) };
}

/**
 * Collects records into groups of at most `size` whose body stays within `maxBytes`. A record too
 * big for any batch still goes, alone: the vendor's answer says what is wrong with it.
 */
export class BatchGrouper<T> {
  private items: T[] = [];
  private bytes = 0;

  constructor(private readonly batching: Pick<Batching, 'size' | 'maxBytes' | 'envelopeBytes'>) {}

  /** Adds one record; returns the groups now complete (none, one, or two when it overflowed a group). */
  add(item: T, bytes: number): T[][] {
    const complete: T[][] = [];
    const { maxBytes } = this.batching;
    // Each element after the first adds a comma to the array.
    if (maxBytes !== undefined && this.items.length > 0 && this.bytes + 1 + bytes > maxBytes) complete.push(this.take());
    this.bytes = this.items.length === 0 ? this.batching.envelopeBytes + bytes : this.bytes + 1 + bytes;
    this.items.push(item);
    if (this.items.length >= this.batching.size) complete.push(this.take());
    return complete;
  }

  /** The last, partial group at the end of input (empty when nothing is left). */
  end(): T[] {
    return this.take();
  }

  private take(): T[] {
    const group = this.items;
    this.items = [];
    this.bytes = 0;
    return group;
  }
}
