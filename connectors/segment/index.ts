// Segment — identify calls through the vendor's own client, @segment/analytics-node 3.1
// (Segment's HTTP Tracking API, https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/).
// The client batches calls into POST {host}/v1/batch and retries them itself; this connector
// configures it from the destination's config and turns the answer for each call into an outcome. It is the one connector that owns a client (and so its HTTP): the
// engine still gates, paces, records and commits.
import { createHash } from 'node:crypto';
import { Analytics } from '@segment/analytics-node';
import { z } from 'zod';
import { defineConnector, type SendContext, type SenderOutcome } from '../contract.js';
import { baseUrl, idString, jsonObject, secret } from '../shared.js';

/** Segment refuses a whole request (400) when one message in it is larger than this. */
export const MAX_MESSAGE_BYTES = 32 * 1024;
/**
 * Room kept for what analytics-node adds to each message (type, messageId, timestamp,
 * integrations, context.library, _metadata): about 300 bytes, measured on 3.1.0.
 */
export const CLIENT_OVERHEAD_BYTES = 512;
/**
 * Messages per batch. 15 × 32 KB stays under Segment's 500 KB per request whatever the messages;
 * analytics-node's own byte check cannot be relied on to split batches (it counts escaped
 * characters, not bytes), and one oversized request loses the whole batch to a 400.
 */
export const MAX_BATCH_MESSAGES = 15;
/**
 * How long a partial batch waits for more calls before it is sent. analytics-node answers a call
 * no earlier than 300 ms after it was made, so any wait under that costs no latency; 50 ms keeps the
 * last records of a run (fewer than a batch) from waiting for calls the concurrency gate holds back.
 */
export const FLUSH_INTERVAL_MS = 50;

const settings = z.strictObject({
  writeKey: secret('Write key of the Segment source the identify calls go to (an HTTP API or Node.js source).'),
  host: baseUrl('https://api.segment.io', 'Tracking API host (e.g. a regional endpoint or a proxy); calls go to {host}/v1/batch.'),
});

/** Segment wants ISO 8601; a warehouse may hand over a Date or text. Text must carry its zone. */
const timestamp = z
  .union([z.date(), z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date-time with a time zone, e.g. 2026-01-31T12:00:00Z' })])
  .transform((value) => (value instanceof Date ? value.toISOString() : value));

/** Approximate size of the message analytics-node will build from this payload, in bytes. */
export function messageBytes(message: unknown): number {
  return Buffer.byteLength(JSON.stringify(message)) + CLIENT_OVERHEAD_BYTES;
}

/** The biggest top-level field or trait, to tell the user what to trim. */
function largestField(message: Record<string, unknown>): string {
  const sizes: [string, number][] = [];
  for (const [field, value] of Object.entries(message)) {
    if (field === 'traits' && value && typeof value === 'object') {
      for (const [trait, traitValue] of Object.entries(value)) sizes.push([`traits.${trait}`, Buffer.byteLength(JSON.stringify(traitValue) ?? '')]);
    } else {
      sizes.push([field, Buffer.byteLength(JSON.stringify(value) ?? '')]);
    }
  }
  const [field, bytes] = sizes.sort((a, b) => b[1] - a[1])[0];
  return `${field} (${(bytes / 1024).toFixed(1)} KB)`;
}

const payload = z
  .strictObject({
    userId: idString.describe('Your unique, stable id for the user (required).'),
    anonymousId: idString.optional().describe('An id for the user before they were known (e.g. a device or cookie id).'),
    traits: jsonObject
      .optional()
      .describe('What you know about the user: name, email, plan… Reserved traits such as email, name, createdAt keep Segment’s meaning.'),
    timestamp: timestamp.optional().describe('When the traits were true (ISO 8601 with a zone, or a date column); defaults to the send time.'),
    context: jsonObject.optional().describe('Extra context Segment passes along (e.g. ip, locale); context.library is set by the client.'),
  })
  .superRefine((message, check) => {
    const bytes = messageBytes(message);
    if (bytes > MAX_MESSAGE_BYTES) {
      check.addIssue({
        code: 'custom',
        message: `the identify message would be ${(bytes / 1024).toFixed(1)} KB; Segment accepts at most 32 KB per message. The largest field is ${largestField(message)}: map fewer or shorter traits`,
      });
    }
  });

type Payload = z.infer<typeof payload>;

/**
 * The same change of the same record always gets the same messageId, so when an answer was lost and
 * the record is sent again, Segment (which de-duplicates on messageId) keeps one copy.
 */
export function messageIdFor(context: SendContext): string {
  const digest = createHash('sha256').update([context.sync, context.key, context.fingerprint, context.changedAt].join('\u0000')).digest('hex');
  return `backflow-${digest}`;
}

/** analytics-node reports an HTTP failure as Error("[status] statusText"); anything else is a network error. */
export function outcomeOfError(error: unknown): SenderOutcome {
  const message = error instanceof Error ? error.message : String(error);
  const answer = /^\[(\d{3})\]\s*(.*)$/.exec(message);
  if (!answer) {
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : undefined;
    const detail = cause ? `${message} (${(cause as NodeJS.ErrnoException).code ?? cause.message})` : message;
    return { kind: 'retry', reason: `could not deliver to Segment: ${detail}; analytics-node gave up after its retries` };
  }
  const status = Number(answer[1]);
  const said = `Segment answered HTTP ${status}${answer[2] ? ` ${answer[2]}` : ''}`;
  if (status === 401 || status === 403) {
    return { kind: 'stop', status, reason: `${said}: the write key was refused. Check the destination's writeKey (a Segment source's write key) and host` };
  }
  // analytics-node retries 408, 410, 429, 460 and 5xx by itself; any other 4xx refuses the batch at once.
  if (status >= 400 && status < 500 && ![408, 410, 429, 460].includes(status)) {
    return { kind: 'rejected', status, reason: `${said}: the batch holding this record was refused (malformed, or over 500 KB)` };
  }
  return { kind: 'retry', status, reason: `${said}; analytics-node gave up after its retries` };
}

/** analytics-node joins `path` to `host` as a URL, which would drop a path prefix in host (a proxy). */
function endpoint(host: string): { host: string; path: string } {
  const url = new URL(host);
  return { host: url.origin, path: `${url.pathname.replace(/\/+$/, '')}/v1/batch` };
}

export const segment = defineConnector({
  type: 'segment',
  title: 'Segment: identify calls through @segment/analytics-node',
  settings,
  secrets: ['writeKey'],
  payload,
  keyField: 'userId',
  // The rate counts identify calls, not HTTP requests (15 calls share one). Segment sets no hard
  // limit and asks to be told before sustained traffic above 500 requests a second. Each call is
  // answered ≥300 ms after it is made, so 150 calls in flight (10 batches) sustain about 500 a second.
  defaults: {
    requestsPerSecond: 500,
    concurrency: 150,
    mapping: { userId: 'id', 'traits.name': 'name', 'traits.email': 'email' },
  },

  createSender(config, options) {
    const analytics = new Analytics({
      writeKey: config.writeKey,
      ...endpoint(config.host),
      // A batch at most as large as the gate lets in, so it fills; the interval sends the rest.
      flushAt: Math.min(options.concurrency, MAX_BATCH_MESSAGES),
      flushInterval: FLUSH_INTERVAL_MS,
      maxRetries: options.retry.attempts,
      httpRequestTimeout: options.timeoutMs,
      // Total time a batch may spend waiting out 429 Retry-After answers before it is given up.
      maxRateLimitDuration: Math.max(1, Math.ceil(options.retry.maxDelayMs / 1000)),
    });
    analytics.on('http_response', (response) => options.onResponse(response.status, response.headers));

    return {
      send: (message: Payload, context) =>
        new Promise<SenderOutcome>((resolve) => {
          try {
            // The callback runs once the batch holding this call was delivered or given up.
            analytics.identify({ ...message, messageId: messageIdFor(context) }, (error) => resolve(error ? outcomeOfError(error) : { kind: 'sent' }));
          } catch (error) {
            resolve({ kind: 'rejected', reason: `analytics-node refused the identify call: ${(error as Error).message}` });
          }
        }),
      close: () => analytics.closeAndFlush(),
    };
  },
});
