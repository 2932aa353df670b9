// Serves every `segment` source of a config on its `listen` address (used by `backflow ingest` and
// the daemon). Each source writes to its own event store; closing stops accepting, lets requests in
// flight finish and be committed, then closes the stores.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { LoadedConfig } from '../config/load.js';
import { segmentSource } from '../sources/segment.js';
import { WriteKeys } from './auth.js';
import { CorsPolicy } from './cors.js';
import { durationMs, type PruneReport } from './retention.js';
import { ingestHandler, type IngestObserver } from './server.js';
import { EventStore } from './store.js';

export type { PruneReport } from './retention.js';
export type { IngestObserver, IngestOutcome } from './server.js';

export interface IngestOptions {
  onEvent?: IngestObserver;
  /** Told after each background pass that deleted expired events, or failed to. */
  onPrune?: (source: string, report: PruneReport) => void;
  onPruneError?: (source: string, error: Error) => void;
}

/** What a source's event store holds right now, for metrics. */
export interface StoreFigures {
  source: string;
  /** The store file plus its write-ahead log, in bytes. */
  bytes: number;
  /** Events pruned since ingest started. */
  pruned: number;
}

export interface Ingest {
  close(): Promise<void>;
  /** Base URL of each endpoint, e.g. http://127.0.0.1:8088 (the real port when the config says :0). */
  addresses: string[];
  stores(): StoreFigures[];
}

/** How long close() waits for requests in flight before cutting their connections. */
const CLOSE_GRACE_MS = 10_000;

interface Served {
  source: string;
  server: http.Server;
  store: EventStore;
}

function listen(server: http.Server, listenAt: string, source: string): Promise<string> {
  const separator = listenAt.lastIndexOf(':');
  const host = listenAt.slice(0, separator);
  const port = Number(listenAt.slice(separator + 1));
  return new Promise((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `source "${source}" cannot listen on ${listenAt}: ${error.code === 'EADDRINUSE' ? 'the port is in use (is another backflow ingest or daemon running?)' : error.message}`,
        ),
      );
    server.once('error', failed);
    server.listen(port, host, () => {
      server.off('error', failed);
      const address = server.address() as AddressInfo;
      resolve(`http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`);
    });
  });
}

async function stop({ server, store }: Served): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
  await closed;
  clearTimeout(cut);
  store.close();
}

export async function startIngest(loaded: LoadedConfig, options: IngestOptions = {}): Promise<Ingest> {
  const sources = Object.entries(loaded.config.sources).filter(([, source]) => (source as { type: string }).type === 'segment');
  const served: Served[] = [];
  const addresses: string[] = [];
  const storeOwners = new Map<string, string>();
  try {
    for (const [name, source] of sources) {
      const { type: _type, ...raw } = source;
      const settings = segmentSource.settings.parse(raw);
      const file = path.resolve(loaded.dir, settings.store);
      // Two sources in one store would mix their users' profiles.
      const owner = storeOwners.get(file);
      if (owner) throw new Error(`sources "${owner}" and "${name}" both use the event store ${file}: give each segment source its own store:`);
      storeOwners.set(file, name);

      const store = new EventStore(file, {
        retentionMs: durationMs(settings.retention),
        onPrune: options.onPrune && ((report) => options.onPrune!(name, report)),
        onPruneError: options.onPruneError && ((error) => options.onPruneError!(name, error)),
      });
      const handler = ingestHandler({
        writeKeys: new WriteKeys(settings.writeKeys),
        store,
        cors: new CorsPolicy(settings.cors?.origins),
        source: name,
        onEvent: options.onEvent,
      });
      const server = http.createServer({ requestTimeout: 30_000, headersTimeout: 15_000 }, handler);
      served.push({ source: name, server, store });
      addresses.push(await listen(server, settings.listen, name));
    }
  } catch (error) {
    await Promise.all(served.map(async (entry) => (entry.server.listening ? stop(entry) : entry.store.close())));
    throw error;
  }
  return {
    addresses,
    stores: () => served.map(({ source, store }) => ({ source, bytes: store.sizeBytes(), pruned: store.pruned })),
    close: async () => {
      await Promise.all(served.map(stop));
    },
  };
}
