// A workspace holds what syncs share within one process: the loaded config, the state store and one
// Destination (rate limiter, concurrency gate) per destination. Each read opens its own source
// reader, in a worker thread (readInWorker).
import picomatch from 'picomatch';
import { connectorFor } from '../../connectors/index.js';
import type { LoadedConfig } from '../config/load.js';
import type { DestinationConfig, SourceConfig, SyncConfig } from '../config/schema.js';
import { Destination, type DeliveryObserver, type SharedBudgets } from '../delivery/destination.js';
import { UsageError } from '../errors.js';
import type { Store } from '../state/contract.js';

export class Workspace {
  constructor(
    readonly loaded: LoadedConfig,
    readonly state: Store,
    readonly observer?: DeliveryObserver,
    /** In fleet mode: the rate budgets and concurrency every member shares (src/fleet/budgets.ts). */
    private readonly fleet?: SharedBudgets,
    private readonly destinations = new Map<string, Destination>(),
  ) {}

  /**
   * A workspace for one of several runs in flight at once (the daemon): its own state connection,
   * since a SQLite connection serves one run at a time, but the same destinations, so rate limits
   * and concurrency stay shared between syncs.
   */
  forRun(state: Store): Workspace {
    return new Workspace(this.loaded, state, this.observer, this.fleet, this.destinations);
  }

  get config() {
    return this.loaded.config;
  }

  syncNamed(name: string): SyncConfig {
    const sync = this.config.syncs.find((entry) => entry.name === name);
    if (!sync) throw new UsageError(`no sync named "${name}": expected one of ${this.config.syncs.map((entry) => entry.name).join(', ')}`);
    return sync;
  }

  /**
   * The syncs a command works on, in config order: those named and those matching a glob pattern
   * (`--select 'users-*'`), or all when neither is given. A name or a pattern that matches no sync is
   * refused, so a typo never silently runs nothing.
   */
  selectSyncs(names: string[] = [], patterns: string[] = []): SyncConfig[] {
    if (names.length === 0 && patterns.length === 0) return this.config.syncs;
    const chosen = new Set(names.map((name) => this.syncNamed(name).name));
    for (const pattern of patterns) {
      const matches = picomatch(pattern);
      const matched = this.config.syncs.filter((sync) => matches(sync.name));
      if (matched.length === 0) {
        throw new UsageError(`--select "${pattern}" matches no sync: the syncs are ${this.config.syncs.map((entry) => entry.name).join(', ')}`);
      }
      for (const sync of matched) chosen.add(sync.name);
    }
    return this.config.syncs.filter((sync) => chosen.has(sync.name));
  }

  destinationConfig(sync: SyncConfig): DestinationConfig {
    return this.config.destinations[sync.destination] as DestinationConfig;
  }

  connectorOf(sync: SyncConfig) {
    return connectorFor(this.destinationConfig(sync).type);
  }

  /** A loaded config with unresolved variables (a state-only command) must never connect: a bug, said plainly. */
  private mustConnect(): void {
    const { unresolved } = this.loaded;
    if (unresolved.length > 0) throw new Error(`this command loaded the config without ${unresolved.join(', ')}: it cannot connect`);
  }

  /** The sync's source settings, to open it. */
  sourceConfig(sync: SyncConfig): SourceConfig {
    this.mustConnect();
    return this.config.sources[sync.source] as SourceConfig;
  }

  destination(sync: SyncConfig): Destination {
    this.mustConnect();
    let destination = this.destinations.get(sync.destination);
    if (!destination) {
      destination = new Destination({
        name: sync.destination,
        connector: this.connectorOf(sync),
        config: this.destinationConfig(sync),
        observer: this.observer,
        fleet: this.fleet,
      });
      this.destinations.set(sync.destination, destination);
    }
    return destination;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.destinations.values()].map((destination) => destination.close()));
  }
}
