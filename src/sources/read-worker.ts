// The worker side of readInWorker: opens the source, reads the request, hashes each row, and posts
// batches to the engine, never more than it has been asked for.
import { parentPort, workerData } from 'node:worker_threads';
import { postError } from '../errors.js';
import { rowHasher } from '../fingerprint.js';
import { openSource } from './index.js';
import { exactInstant } from './values.js';
import type { ToEngine, WorkerRead } from './read-in-worker.js';

const read = workerData as WorkerRead;
const port = parentPort!;
const post = (message: ToEngine) => port.postMessage(message);

let credits = read.ahead;
let stopping = false;
let wake: (() => void) | undefined;
port.on('message', (message: 'next' | 'stop') => {
  if (message === 'next') credits++;
  else stopping = true;
  wake?.();
});

const reader = await openSource(read.source.name, read.source.config, { configDir: read.source.configDir }).catch((error: unknown) => {
  post({ error: postError(error) });
  return undefined;
});
if (reader) {
  try {
    const rowHash = rowHasher(read.hashing.connectorType, read.hashing.mapping);
    for await (const rows of reader.read(read.request)) {
      while (credits === 0 && !stopping) await new Promise<void>((resolve) => (wake = resolve));
      // Leaving the loop ends the read: the source closes its cursor and releases its locks.
      if (stopping) break;
      credits--;
      // Dates lose their exact instants on the way to the engine: they go along beside the rows.
      const column = read.request.cursorColumn;
      const exactCursors = column ? rows.map((row) => exactInstant(row[column])) : [];
      post({ rows, rowHashes: rows.map(rowHash), ...(exactCursors.some(Boolean) ? { exactCursors } : {}) });
    }
    if (!stopping) post({ done: true });
  } catch (error) {
    post({ error: postError(error) });
  } finally {
    await reader.close();
  }
}
port.close();
