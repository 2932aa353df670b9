// A workspace holds what syncs share within one process: the loaded config, the state store, one
// open reader per source and one Destination (rate limiter, concurrency gate) per destination.
import { connectorFor } from '../../connectors/index.js';
import type { LoadedConfig } from '../config/load.js';
import type { DestinationConfig, SourceConfig, SyncConfig } from '../config/schema.js';
import { Destination, type DeliveryObserver } from '../delivery/destination.js';
import type { SourceReader } from '../sources/contract.js';
import { openSource } from '../sources/index.js';
import type { StateStore } from '../state/store.js';

export class UsageError extends Error {}

export class Workspace {
  private readonly sources = new Map<string, Promise<SourceReader>>();

  constructor(
    readonly loaded: LoadedConfig,
    readonly state: StateStore,
    readonly observer?: DeliveryObserver,
    private readonly destinations = new Map<string, Destination>(),
  ) {}

  /**
   * A workspace for one of several runs in flight at once (the daemon): its own state connection
   * and source readers, since a SQLite connection serves one run at a time, but the same
   * destinations, so rate limits and concurrency stay shared between syncs.
   */
  forRun(state: StateStore): Workspace {
    return new Workspace(this.loaded, state, this.observer, this.destinations);
  }

  get config() {
    return this.loaded.config;
  }

  syncNamed(name: string): SyncConfig {
    const sync = this.config.syncs.find((entry) => entry.name === name);
    if (!sync) throw new UsageError(`no sync named "${name}": expected one of ${this.config.syncs.map((entry) => entry.name).join(', ')}`);
    return sync;
  }

  /** The syncs a command works on: one by name, or all. */
  selectSyncs(name?: string): SyncConfig[] {
    return name ? [this.syncNamed(name)] : this.config.syncs;
  }

  destinationConfig(sync: SyncConfig): DestinationConfig {
    return this.config.destinations[sync.destination] as DestinationConfig;
  }

  connectorOf(sync: SyncConfig) {
    return connectorFor(this.destinationConfig(sync).type);
  }

  destination(sync: SyncConfig): Destination {
    let destination = this.destinations.get(sync.destination);
    if (!destination) {
      destination = new Destination({ name: sync.destination, connector: this.connectorOf(sync), config: this.destinationConfig(sync), observer: this.observer });
      this.destinations.set(sync.destination, destination);
    }
    return destination;
  }

  source(sync: SyncConfig): Promise<SourceReader> {
    let reader = this.sources.get(sync.source);
    if (!reader) {
      reader = openSource(sync.source, this.config.sources[sync.source] as SourceConfig, { configDir: this.loaded.dir });
      this.sources.set(sync.source, reader);
      // A source that fails to open may be retried by a later run.
      reader.catch(() => this.sources.delete(sync.source));
    }
    return reader;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.destinations.values()].map((destination) => destination.close()));
    const readers = await Promise.allSettled(this.sources.values());
    for (const reader of readers) if (reader.status === 'fulfilled') await reader.value.close();
    this.sources.clear();
  }
}
