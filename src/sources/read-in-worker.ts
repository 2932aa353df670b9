// Reads a sync's source in a worker thread: the driver's decoding of rows and their hashing run on
// the second core while the engine compares and sends on this one (a 1,000,000-row plan spent a
// third of its time in them). Memory stays bounded: the worker reads at most `ahead` batches
// before the engine takes them.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ReadRequest, Row } from './contract.js';
import { receiveError, SourceError, type PostedError } from '../errors.js';

/** A batch of rows with each row's hash (see rowHasher). */
export interface HashedBatch {
  rows: Row[];
  rowHashes: string[];
  /** Per row, the cursor column's exact instant where the source read one finer than its Date (see exactInstant). */
  exactCursors?: (string | undefined)[];
}

export interface WorkerRead {
  source: { name: string; config: { type: string }; configDir: string };
  request: ReadRequest;
  /** What the row hashes are salted with: the destination's connector type and the mapping. */
  hashing: { connectorType: string; mapping: unknown };
  ahead: number;
}

/** What the worker posts: a batch, the end of the read, or the error that ended it. */
export type ToEngine = HashedBatch | { done: true } | { error: PostedError };

// The worker runs JavaScript: built, the file next to this one; run from the TypeScript sources
// (tests, tsx), the build of those same sources, since Node 20 cannot load TypeScript in a worker
// thread (the test setup builds before any test runs).
const WORKER_FILE = import.meta.url.endsWith('.ts')
  ? new URL('../../dist/src/sources/read-worker.js', import.meta.url)
  : new URL('./read-worker.js', import.meta.url);

export async function* readInWorker(read: Omit<WorkerRead, 'ahead'>, ahead = 2): AsyncGenerator<HashedBatch> {
  if (!fs.existsSync(WORKER_FILE)) throw new SourceError(`${fileURLToPath(WORKER_FILE)} is missing: run npm run build`);
  const worker = new Worker(WORKER_FILE, { workerData: { ...read, ahead } satisfies WorkerRead });
  const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
  const inbox: (ToEngine | { crashed: string })[] = [];
  let wake: (() => void) | undefined;
  const receive = (message: ToEngine | { crashed: string }) => {
    inbox.push(message);
    wake?.();
  };
  worker.on('message', receive);
  worker.on('error', (error) => receive({ crashed: error.message }));
  void exited.then((code) => receive({ crashed: `exit code ${code}` }));
  try {
    for (;;) {
      while (inbox.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      const message = inbox.shift()!;
      if ('rows' in message) {
        worker.postMessage('next');
        yield message;
      } else if ('done' in message) {
        return;
      } else if ('error' in message) {
        throw receiveError(message.error);
      } else {
        throw new SourceError(`source "${read.source.name}": its reader stopped unexpectedly (${message.crashed})`);
      }
    }
  } finally {
    // Done, failed or abandoned early: the worker ends the read (closing its cursor) and exits.
    worker.postMessage('stop');
    await exited;
  }
}
