// Helpers for Segment ingest tests: a config with a segment source, the ingest started in-process,
// raw Tracking API requests, and the profiles read back through the segment source itself.
import path from 'node:path';
import zlib from 'node:zlib';
import { onTestFinished } from 'vitest';
import { loadConfig, type LoadedConfig } from '../../src/config/load.js';
import { startIngest, type IngestObserver } from '../../src/ingest/index.js';
import type { Row } from '../../src/sources/contract.js';
import { segmentSource } from '../../src/sources/segment.js';
import { writeFile } from './index.js';

export const WRITE_KEY = 'wk_test_4f9a2c71';

/** A config with one segment source on a free port, storing in `dir`/events.db, and `rest` appended. */
export function segmentConfig(dir: string, rest = ''): string {
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
${rest}`,
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
export async function ingestFor(
  file: string,
  onEvent?: IngestObserver,
  env: NodeJS.ProcessEnv = {},
): Promise<{ url: string; loaded: LoadedConfig; close: () => Promise<void> }> {
  const loaded = loadConfig(file, { ...process.env, SEGMENT_WRITE_KEY: WRITE_KEY, ...env });
  const ingest = await startIngest(loaded, { onEvent });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await ingest.close();
  };
  onTestFinished(close);
  return { url: ingest.addresses[0], loaded, close };
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
