// Reads a request body within the Tracking API's 500 KB limit, undoing gzip if the client used it.
import type http from 'node:http';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { MAX_DRAIN_BYTES, MAX_REQUEST_BYTES } from './limits.js';
import type { IngestReason } from './reasons.js';

const gunzip = promisify(zlib.gunzip);

export type Body = { ok: true; text: string } | { ok: false; label: IngestReason; reason: string; closeConnection?: boolean };

const tooLarge = (size: string): Body & { ok: false } => ({
  ok: false,
  label: 'body_too_large',
  reason: `the request body is ${size}: at most ${MAX_REQUEST_BYTES} bytes (500 KB) per request; send fewer messages per batch`,
});

export async function readBody(req: http.IncomingMessage): Promise<Body> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    // Past the limit the rest is read and dropped, so the client gets our answer rather than a reset;
    // a client that keeps sending far beyond it is cut off.
    if (size > MAX_DRAIN_BYTES) {
      req.destroy();
      return { ...tooLarge(`over ${MAX_DRAIN_BYTES} bytes`), closeConnection: true };
    }
    if (size <= MAX_REQUEST_BYTES) chunks.push(chunk as Buffer);
  }
  if (size > MAX_REQUEST_BYTES) return tooLarge(`${size} bytes`);
  const raw = Buffer.concat(chunks);

  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding === 'identity' || encoding === '') return { ok: true, text: raw.toString('utf8') };
  if (encoding !== 'gzip')
    return { ok: false, label: 'unsupported_encoding', reason: `Content-Encoding "${encoding}" is not supported: send gzip or no encoding` };
  try {
    const text = await gunzip(raw, { maxOutputLength: MAX_REQUEST_BYTES });
    return { ok: true, text: text.toString('utf8') };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return tooLarge('over the limit once gunzipped');
    return { ok: false, label: 'invalid_gzip', reason: `the body is not valid gzip although Content-Encoding says gzip (${(error as Error).message})` };
  }
}
