// The HTTP side of one segment source: the Tracking API's endpoints, CORS for browsers,
// authentication, limits and per-message validation, answering only once the accepted events are on disk.
//
// Answers: 200 {success: true} when every message is stored (a retried messageId counts as stored);
// 400 with the reason when the request or any of its messages is refused — in a batch the valid
// messages are still stored and the answer lists each refused one; 401 for a missing or unknown
// write key; 415 for a body that is not JSON or text; 429 + Retry-After when overloaded; 503 +
// Retry-After when the store cannot write (clients retry, and messageId dedup makes that safe).
import type http from 'node:http';
import { basicAuthKey, type WriteKeys } from './auth.js';
import { readBody } from './body.js';
import type { CorsPolicy } from './cors.js';
import { MAX_BATCH_MESSAGES, MAX_PENDING_REQUESTS, OVERLOAD_RETRY_AFTER_SECONDS } from './limits.js';
import { checkMessage, type EventType, type IncomingEvent } from './messages.js';
import type { IngestReason } from './reasons.js';
import { StoreOverloaded, type EventStore } from './store.js';

export type IngestOutcome = 'accepted' | 'refused';
/**
 * Told once per message (accepted, or refused with the reason; "duplicate" for a retried delivery) and
 * once per refused request: `reason` is from a fixed set (a metrics label), `message` the full sentence.
 */
export type IngestObserver = (outcome: IngestOutcome, reason?: IngestReason, message?: string) => void;

export interface IngestHandlerOptions {
  writeKeys: WriteKeys;
  store: EventStore;
  cors: CorsPolicy;
  /** The source's name, for error messages that say where to change the config. */
  source: string;
  onEvent?: IngestObserver;
}

interface Refusal {
  index: number;
  messageId?: string;
  reason: string;
  label: IngestReason;
}

// analytics.js (analytics-next) posts to the one-letter paths: /v1/t, /v1/i, /v1/p, /v1/s, /v1/g,
// /v1/a, and /v1/b when it batches.
const ENDPOINTS: Record<string, EventType | 'batch'> = {
  identify: 'identify',
  track: 'track',
  page: 'page',
  screen: 'screen',
  group: 'group',
  alias: 'alias',
  batch: 'batch',
  import: 'batch',
  i: 'identify',
  t: 'track',
  p: 'page',
  s: 'screen',
  g: 'group',
  a: 'alias',
  b: 'batch',
};
const ENDPOINT = /^\/v1\/([a-z]+)\/?$/;

/**
 * Media types a JSON body arrives as: application/json from analytics-node, text/plain from
 * analytics.js (a type that needs no CORS preflight), and application/x-www-form-urlencoded from
 * rudder-sdk-node (its HTTP client's default for a gzipped body). Anything else (a form upload,
 * XML, bytes) is refused with 415.
 */
const BODY_TYPES = new Set(['application/json', 'text/plain', 'application/x-www-form-urlencoded']);

function reply(res: http.ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const isObject = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);
const validTime = (value: unknown): string | undefined => (typeof value === 'string' && !Number.isNaN(Date.parse(value)) ? value : undefined);
const mediaType = (header: string | undefined) => header?.split(';')[0].trim().toLowerCase() ?? '';

export function ingestHandler(options: IngestHandlerOptions): http.RequestListener {
  const { writeKeys, store, cors, source, onEvent } = options;
  let pendingRequests = 0;

  const refuse = (res: http.ServerResponse, status: number, label: IngestReason, reason: string, headers?: Record<string, string>) => {
    onEvent?.('refused', label, reason);
    reply(res, status, { success: false, error: reason }, headers);
  };

  /** OPTIONS: a browser's CORS preflight, answered for listed origins only. */
  const preflight = (req: http.IncomingMessage, res: http.ServerResponse, path: string) => {
    req.resume();
    const origin = req.headers.origin;
    if (origin === undefined || req.headers['access-control-request-method'] === undefined) {
      res.writeHead(204, { Allow: 'POST, OPTIONS' });
      res.end();
      return;
    }
    if (!cors.allows(origin)) {
      return refuse(
        res,
        403,
        'cors_origin_not_listed',
        `CORS preflight for ${path} from ${origin} refused: that origin is not listed in sources.${source}.cors.origins; add it to let its pages post events`,
        { Vary: 'Origin' },
      );
    }
    res.writeHead(204, cors.preflightHeaders(origin));
    res.end();
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const receivedAt = new Date();
    const path = (req.url ?? '/').split('?')[0];
    const endpoint = ENDPOINTS[path.match(ENDPOINT)?.[1] ?? ''];
    if (!endpoint) {
      req.resume();
      return refuse(res, 404, 'no_endpoint', `no endpoint ${path}: POST to /v1/identify, /v1/track, /v1/page, /v1/screen, /v1/group, /v1/alias or /v1/batch`);
    }
    if (req.method === 'OPTIONS') return preflight(req, res, path);
    for (const [name, value] of Object.entries(cors.headers(req.headers.origin))) res.setHeader(name, value);
    if (req.method !== 'POST') {
      req.resume();
      return refuse(res, 405, 'method_not_allowed', `${req.method} is not allowed: POST a JSON body to ${path}`, { Allow: 'POST, OPTIONS' });
    }
    const type = mediaType(req.headers['content-type']);
    if (type !== '' && !BODY_TYPES.has(type) && !type.endsWith('+json')) {
      req.resume();
      return refuse(
        res,
        415,
        'unsupported_media_type',
        `Content-Type ${type} is not accepted: send the JSON body as application/json (or text/plain, as analytics.js does)`,
      );
    }

    // A Basic-auth key is checked before the body is read; a body key only after.
    const headerKey = basicAuthKey(req.headers.authorization);
    if (headerKey !== undefined && !writeKeys.accepts(headerKey)) {
      req.resume();
      return refuse(res, 401, 'unknown_write_key', "unknown write key in the Authorization header: use a key listed in the source's writeKeys");
    }

    const body = await readBody(req);
    if (!body.ok) return refuse(res, 400, body.label, body.reason, body.closeConnection ? { Connection: 'close' } : undefined);
    let document: unknown;
    try {
      document = JSON.parse(body.text);
    } catch (error) {
      return refuse(res, 400, 'invalid_json', `the body is not valid JSON: ${(error as Error).message}`);
    }
    if (!isObject(document)) return refuse(res, 400, 'not_an_object', 'the body must be a JSON object');

    if (headerKey === undefined) {
      if (typeof document.writeKey !== 'string' || document.writeKey === '') {
        return refuse(res, 401, 'missing_write_key', 'no write key: send it as the Basic-auth user name or as writeKey in the body');
      }
      if (!writeKeys.accepts(document.writeKey))
        return refuse(res, 401, 'unknown_write_key', "unknown write key in the body: use a key listed in the source's writeKeys");
    }

    const isBatch = endpoint === 'batch';
    let messages: unknown[];
    if (isBatch) {
      if (!Array.isArray(document.batch)) return refuse(res, 400, 'invalid_batch', 'a batch request needs batch: an array of messages');
      if (document.batch.length > MAX_BATCH_MESSAGES) {
        return refuse(res, 400, 'batch_too_large', `the batch has ${document.batch.length} messages: at most ${MAX_BATCH_MESSAGES} per request`);
      }
      messages = document.batch;
    } else {
      messages = [document];
    }

    const context = { type: isBatch ? undefined : endpoint, batchSentAt: validTime(document.sentAt), receivedAt };
    const events: IncomingEvent[] = [];
    const refusals: Refusal[] = [];
    messages.forEach((message, index) => {
      const check = checkMessage(message, context);
      if (check.ok) events.push(check.event);
      else refusals.push({ index, messageId: check.messageId, reason: check.reason, label: check.tooLarge ? 'message_too_large' : 'invalid_message' });
    });

    let outcomes;
    try {
      outcomes = await store.write(events);
    } catch (error) {
      if (error instanceof StoreOverloaded) return overloaded(res, `the endpoint is overloaded (${error.message})`);
      onEvent?.('refused', 'store_failed', `the event store could not write: ${(error as Error).message}`);
      return reply(res, 503, { success: false, error: 'the event store could not write these events; retry later' }, { 'Retry-After': '1' });
    }
    for (const outcome of outcomes) onEvent?.('accepted', outcome === 'duplicate' ? 'duplicate' : undefined);
    for (const refusal of refusals) onEvent?.('refused', refusal.label, refusal.reason);

    if (refusals.length === 0) return reply(res, 200, { success: true });
    if (!isBatch) return reply(res, 400, { success: false, error: refusals[0].reason });
    const first = refusals[0];
    reply(res, 400, {
      success: false,
      error:
        `${refusals.length} of ${messages.length} messages refused, ${events.length} stored; ` +
        `message ${first.index}${first.messageId ? ` (${first.messageId})` : ''}: ${first.reason}${refusals.length > 1 ? '; …' : ''}`,
      accepted: events.length,
      rejected: refusals.map(({ index, messageId, reason }) => ({ index, messageId, reason })),
    });
  };

  // 429, not 503: both Segment SDKs wait for Retry-After only on a 429 (on a 503 they back off blindly).
  const overloaded = (res: http.ServerResponse, why: string) =>
    refuse(res, 429, 'overloaded', `${why}: nothing was stored; retry after ${OVERLOAD_RETRY_AFTER_SECONDS} s`, {
      'Retry-After': String(OVERLOAD_RETRY_AFTER_SECONDS),
    });

  // A client that disconnects mid-body (or any surprise) costs that request, never the process.
  return (req, res) => {
    if (req.method === 'POST' && pendingRequests >= MAX_PENDING_REQUESTS) {
      req.resume();
      for (const [name, value] of Object.entries(cors.headers(req.headers.origin))) res.setHeader(name, value);
      return overloaded(res, `the endpoint is overloaded (${MAX_PENDING_REQUESTS} requests in progress)`);
    }
    if (req.method === 'POST') {
      pendingRequests++;
      res.once('close', () => pendingRequests--);
    }
    handle(req, res).catch((error: Error) => {
      onEvent?.('refused', 'request_failed', `the request failed: ${error.message}`);
      if (!res.headersSent && !res.destroyed) reply(res, 500, { success: false, error: 'the request could not be read; retry it' });
      else res.destroy();
    });
  };
}
