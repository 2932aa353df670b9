// Helpers for Segment ingest tests: a config with a segment source, the ingest started in-process,
// raw Tracking API requests, and the profiles read back through the segment source itself.
import diagnostics from 'node:diagnostics_channel';
import { once } from 'node:events';
import type http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { onTestFinished } from 'vitest';
import { loadConfig, type LoadedConfig } from '../../src/config/load.js';
import { startIngest, type Ingest, type IngestObserver, type IngestOptions } from '../../src/ingest/index.js';
import type { Row } from '../../src/sources/contract.js';
import { segmentSource } from '../../src/sources/segment.js';
import { writeFile } from './index.js';

export const WRITE_KEY = 'wk_test_4f9a2c71';

/**
 * A config with one segment source on a free port, storing in `dir`/events.db, and `rest` appended.
 * `sourceLines` are more settings of the source (YAML, indented by four spaces), e.g. `    retention: 1h`.
 */
export function segmentConfig(dir: string, rest = '', sourceLines = ''): string {
  return writeFile(
    dir,
    'backflow.yaml',
    `version: 1
state: { path: ./state.db }
sources:
  events:
    type: segment
    listen: 127.0.0.1:0
    writeKeys: ["\${SEGMENT_WRITE_KEY}"]
    store: ./events.db
${sourceLines ? `${sourceLines.replace(/\n$/, '')}\n` : ''}${rest}`,
  );
}

/** Destinations and syncs for a config whose only source is the segment source (none needed by ingest). */
export const NO_SYNCS = `destinations:
  gamify: { type: gamifyhost, apiKey: pk_test_unused, baseUrl: "http://127.0.0.1:9" }
syncs:
  - name: users
    source: events
    destination: gamify
    mapping: { externalId: userId }
`;

/** Starts ingest for the config file; stopped when the test ends. Returns the base URL. */
export function ingestFor(file: string, onEvent?: IngestObserver, env: NodeJS.ProcessEnv = {}) {
  return ingestWith(file, { onEvent }, env);
}

/** ingestFor with every ingest option (prune reports…); also returns the running ingest. */
export async function ingestWith(
  file: string,
  options: IngestOptions,
  env: NodeJS.ProcessEnv = {},
): Promise<{ url: string; loaded: LoadedConfig; ingest: Ingest; close: () => Promise<void> }> {
  const loaded = loadConfig(file, { ...process.env, SEGMENT_WRITE_KEY: WRITE_KEY, ...env });
  const ingest = await startIngest(loaded, options);
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await ingest.close();
  };
  onTestFinished(close);
  return { url: ingest.addresses[0], loaded, ingest, close };
}

export interface Answer {
  status: number;
  body: { success: boolean; error?: string; accepted?: number; rejected?: { index: number; messageId?: string; reason: string }[] };
}

/** POSTs a JSON body (or raw text/bytes) to an ingest endpoint. */
export async function post(
  url: string,
  endpoint: string,
  body: unknown,
  options: { auth?: string | null; gzip?: boolean; raw?: boolean; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', ...options.headers };
  const auth = options.auth === undefined ? `${WRITE_KEY}:` : options.auth;
  if (auth !== null) headers.Authorization = `Basic ${Buffer.from(auth).toString('base64')}`;
  let payload: Buffer = Buffer.from(options.raw ? (body as string) : JSON.stringify(body));
  if (options.gzip) {
    payload = zlib.gzipSync(payload);
    headers['Content-Encoding'] = 'gzip';
  }
  // No timer of its own: a request that hangs is ended by the test's timeout.
  const response = await fetch(`${url}${endpoint}`, { method: 'POST', headers, body: new Uint8Array(payload) });
  return { status: response.status, body: (await response.json()) as Answer['body'] };
}

/** Every identified profile in the source's store, read as a sync reads them, by userId. */
export async function readProfiles(loaded: LoadedConfig, after: number | null = null): Promise<Map<string, Row>> {
  const { type: _type, ...settings } = loaded.config.sources.events;
  const reader = await segmentSource.open(segmentSource.settings.parse(settings), { configDir: loaded.dir });
  const profiles = new Map<string, Row>();
  try {
    for await (const rows of reader.read({ cursorColumn: 'changeSeq', cursor: after, batchSize: 2 })) {
      for (const row of rows) profiles.set(row.userId as string, row);
    }
  } finally {
    await reader.close();
  }
  return profiles;
}

export const storePath = (dir: string) => path.join(dir, 'events.db');

/** Calls `listener` for every request an in-process HTTP server on `port` starts to receive; returns the unsubscribe. */
export function onRequestTo(port: number, listener: (request: http.IncomingMessage) => void): () => void {
  const onStart = (message: unknown) => {
    const { request, server } = message as { request: http.IncomingMessage; server: http.Server };
    if ((server.address() as AddressInfo | null)?.port === port) listener(request);
  };
  diagnostics.subscribe('http.server.request.start', onStart);
  return () => diagnostics.unsubscribe('http.server.request.start', onStart);
}

/**
 * Fills an in-process ingest endpoint with `count` POSTs whose bodies never finish, so they stay in
 * progress; resolves once the server has every one of them. release() ends them (the server counts
 * them as aborted). Released when the test ends at the latest.
 */
export async function holdRequests(url: string, count: number): Promise<{ release: () => Promise<void> }> {
  const port = Number(new URL(url).port);
  let started = 0;
  let allStarted!: () => void;
  const ready = new Promise<void>((resolve) => (allStarted = resolve));
  const unsubscribe = onRequestTo(port, () => {
    if (++started === count) allStarted();
  });
  const sockets: net.Socket[] = [];
  try {
    for (let index = 0; index < count; index++) {
      const socket = net.connect(port, '127.0.0.1');
      sockets.push(socket);
      socket.on('error', () => undefined);
      socket.write(`POST /v1/batch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"batch": [`);
    }
    await ready;
  } finally {
    unsubscribe();
  }
  const release = async () => {
    const open = sockets.filter((socket) => !socket.destroyed);
    const closed = open.map((socket) => once(socket, 'close'));
    for (const socket of open) socket.destroy();
    await Promise.all(closed);
  };
  onTestFinished(release);
  return { release };
}
