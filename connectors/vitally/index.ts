// Vitally — Analytics API, create/update a user (https://docs.vitally.io/en/articles/9874145-vitally-s-https-analytics-api-user).
// POST https://{subdomain}.api.vitally.io/analytics/v1/user with Basic auth, keyed by userId; by
// default the same messages go in batches to POST /analytics/v1/batch (a JSON array of at most 100,
// each with "type": "user").
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { defineConnector, type HttpResponse, type Outcome, type SendContext } from '../contract.js';
import { baseUrlOverride, idString, secret, standardOutcome, vendorMessage } from '../shared.js';

const settings = z.strictObject({
  subdomain: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/i, 'must be the subdomain alone, e.g. "acme" for https://acme.vitally.io')
    .describe('Your Vitally subdomain, from the URL you log in with (https://{subdomain}.vitally.io).'),
  token: secret(
    'The "Basic Auth Header" value from Vitally (without the "Basic " prefix), or the secret key itself (then Backflow sends base64 of "{key}:").',
  ).refine((value) => !/^basic\s/i.test(value), 'leave out the "Basic " prefix: give only the value after it'),
  baseUrl: baseUrlOverride('Replaces https://{subdomain}.api.vitally.io (a proxy, or a local emulator in tests).'),
});

/** An ISO 8601 date or date-time, as Vitally expects for timestamps and createdAt. */
const isoDate = z
  .string()
  .regex(
    /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/,
    'must be an ISO 8601 date, e.g. 2024-01-15T10:30:00Z (transform: iso8601 makes one)',
  );

const payload = z
  .strictObject({
    userId: idString.describe('The unique ID of this user in your system (required).'),
    accountId: idString.optional().describe('The account this user belongs to (required unless organizationId is given).'),
    organizationId: idString.optional().describe('The organization this user belongs to (required unless accountId is given).'),
    traits: z
      .looseObject({
        name: z.string().optional().describe('Reserved: the user’s name in Vitally.'),
        avatar: z.string().optional().describe('Reserved: the user’s avatar (an image URL) in Vitally.'),
        email: z.string().optional().describe('Reserved: the user’s email in Vitally.'),
        createdAt: isoDate.optional().describe('Reserved: the user’s join date in Vitally.'),
      })
      .default({})
      .describe('Traits of this user; required by Vitally, sent as {} when the mapping has none.'),
    messageId: z.string().min(1).optional().describe('De-duplicates messages. Leave unmapped: Backflow derives one per change of the record.'),
    timestamp: isoDate.optional().describe('When the change happened. Leave unmapped: Backflow sends when it first saw the change.'),
  })
  .refine((record) => record.accountId !== undefined || record.organizationId !== undefined, {
    message: 'Vitally needs accountId or organizationId to place the user: map one of them',
    path: ['accountId'],
  });

/** The Basic credential: the ready header value as given, or base64 of "{secret key}:". */
export function basicCredential(token: string): string {
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  const isReadyHeader = /^[A-Za-z0-9+/]+={0,2}$/.test(token) && Buffer.from(decoded).toString('base64') === token && decoded.endsWith(':');
  return isReadyHeader ? token : Buffer.from(`${token}:`).toString('base64');
}

/** Same change, same id: a retried send is de-duplicated by Vitally instead of applied twice. */
export function messageIdFor(context: SendContext): string {
  const hex = createHash('sha256').update(`${context.sync}\n${context.key}\n${context.fingerprint}`).digest('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

type Settings = z.infer<typeof settings>;
type Payload = z.infer<typeof payload>;

const baseUrlOf = (config: Settings) => config.baseUrl ?? `https://${config.subdomain}.api.vitally.io`;
const headersOf = (config: Settings) => ({ Authorization: `Basic ${basicCredential(config.token)}`, 'Content-Type': 'application/json' });

/** The user message, with the messageId and timestamp of the change unless the mapping gives them. */
function userMessage(record: Payload, context: SendContext) {
  return { ...record, messageId: record.messageId ?? messageIdFor(context), timestamp: record.timestamp ?? context.changedAt };
}

/** Vitally documents at most 100 messages per batch request. */
export const VITALLY_BATCH_MAX = 100;

/** How Vitally's 400 reads when the account blocks the `user` message type (see README.md). */
const BLOCKED_MESSAGE_TYPE = /message type.*\bblocked\b|\bblocked\b.*message type/i;

export const vitally = defineConnector({
  type: 'vitally',
  title: 'Vitally Analytics API: create or update a user by userId',
  settings,
  secrets: ['token'],
  payload,
  keyField: 'userId',
  // Vitally documents 1,000 requests/minute (REST API, sliding window) with RateLimit-* headers;
  // 10/s (600/min) stays well inside it and the headers slow the engine down when they run low.
  defaults: {
    requestsPerSecond: 10,
    concurrency: 4,
    mapping: { userId: 'id', accountId: 'account_id', 'traits.name': 'name', 'traits.email': 'email', 'traits.createdAt': 'created_at' },
  },

  request: (config, record, context) => ({
    method: 'POST',
    url: `${baseUrlOf(config)}/analytics/v1/user`,
    headers: headersOf(config),
    json: userMessage(record, context),
  }),

  interpret,

  // The batch endpoint answers for the whole array (no per-message results are documented), the same
  // way the user endpoint does; a refused batch is split by the engine to find the refused message.
  batch: {
    maxSize: VITALLY_BATCH_MAX,
    item: (_config, record, context) => ({ type: 'user', ...userMessage(record, context) }),
    request: (config, items) => ({ method: 'POST', url: `${baseUrlOf(config)}/analytics/v1/batch`, headers: headersOf(config), json: items }),
    interpret: (response) => interpret(response),
  },
});

function interpret(response: HttpResponse): Outcome {
  const message = vendorMessage(response.body);
  if (response.status >= 200 && response.status < 300) {
    // Documented answer: {"message":"Success."}; an HTML page from a proxy is no confirmation.
    if (response.body && typeof response.body === 'object') return { kind: 'sent' };
    return { kind: 'retry', reason: `HTTP ${response.status} without the documented JSON answer` };
  }
  if (response.status === 400 && BLOCKED_MESSAGE_TYPE.test(message)) {
    // Every user message will get the same answer until Vitally support changes the account.
    return {
      kind: 'stop',
      reason: `HTTP 400: ${message.replace(/[.\s]+$/, '')}. This Vitally account blocks the "user" message type: ask Vitally support (support@vitally.io) to unblock the user message type for the Analytics API`,
    };
  }
  return standardOutcome(response, message);
}
