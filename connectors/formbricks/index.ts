// Formbricks — Client API, create or identify a user (https://formbricks.com/docs/api-reference/client-api-%3E-user/create-or-identify-user).
// POST {baseUrl}/api/v1/client/{environmentId}/user, no auth; the answer carries the user's data.state.
import { z } from 'zod';
import { defineConnector } from '../contract.js';
import { baseUrl, idString, standardOutcome, vendorMessage } from '../shared.js';

const settings = z.strictObject({
  baseUrl: baseUrl('https://app.formbricks.com', 'Your Formbricks instance: https://app.formbricks.com (cloud) or your self-hosted URL.'),
  environmentId: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, 'must be the id alone, e.g. cm6orqtdd000a19wjhnbces5s (letters, digits, "_" or "-")')
    .describe('The environment id (since Formbricks 5, the workspace id) from Formbricks’ setup checklist. Not a secret: no auth is used.'),
});

const ATTRIBUTE_KEY = /^[a-z][a-z0-9_]*$/;
const RESERVED_KEYS = new Set(['user_id', 'first_name', 'last_name']);
const MAX_KEYS = 150;
const MAX_BODY_BYTES = 2 * 1024 * 1024;
// A pragmatic check for "looks like an email", as Formbricks asks of attributes.email.
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

const isAttributeValue = (value: unknown) => typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));

// One pass over keys and values, so a record with several problems reports them all at once.
const attributes = z.record(z.string(), z.unknown()).superRefine((values, context) => {
  const keys = Object.keys(values);
  if (keys.length > MAX_KEYS) context.addIssue({ code: 'custom', message: `at most ${MAX_KEYS} attributes, got ${keys.length}` });
  for (const key of keys) {
    if (RESERVED_KEYS.has(key)) {
      context.addIssue({ code: 'custom', path: [key], message: `"${key}" is reserved by Formbricks: use another attribute name` });
    } else if (!ATTRIBUTE_KEY.test(key)) {
      context.addIssue({ code: 'custom', path: [key], message: 'attribute keys must be lower case: a letter, then letters, digits or "_"' });
    }
    if (!isAttributeValue(values[key])) context.addIssue({ code: 'custom', path: [key], message: 'must be text, a number or true/false' });
  }
  if ('email' in values && !(typeof values.email === 'string' && EMAIL.test(values.email))) {
    context.addIssue({ code: 'custom', path: ['email'], message: 'must look like an email address, e.g. jane@example.com' });
  }
});

const payload = z
  .strictObject({
    userId: idString.describe('Your unique identifier for the user (required).'),
    attributes: attributes.optional().describe('Attributes to set: keys in lower snake_case, values text, numbers or true/false.'),
  })
  .refine((record) => Buffer.byteLength(JSON.stringify(record)) <= MAX_BODY_BYTES, 'the request body would exceed Formbricks’ 2 MiB limit');

/** Formbricks error bodies are {code, message, details}. */
function describeError(body: unknown): string {
  const error = (body ?? {}) as { code?: unknown; message?: unknown; details?: unknown };
  if (typeof error.message !== 'string') return vendorMessage(body);
  const details = error.details && typeof error.details === 'object' && Object.keys(error.details).length > 0 ? ` ${JSON.stringify(error.details)}` : '';
  return `${error.message}${typeof error.code === 'string' ? ` (${error.code})` : ''}${details}`;
}

export const formbricks = defineConnector({
  type: 'formbricks',
  title: 'Formbricks Client API: create or identify a user with attributes',
  settings,
  secrets: [],
  payload,
  keyField: 'userId',
  // The client API allows 100 requests/minute per IP and sends no Retry-After: 1.5/s (90/min)
  // keeps one Backflow process under it; two in flight are plenty at that pace.
  defaults: {
    requestsPerSecond: 1.5,
    concurrency: 2,
    mapping: { userId: 'id', 'attributes.email': 'email' },
  },

  request: (config, record) => ({
    method: 'POST',
    url: `${config.baseUrl}/api/v1/client/${config.environmentId}/user`,
    headers: { 'Content-Type': 'application/json' },
    json: record,
  }),

  interpret(response) {
    const data = (response.body as { data?: { state?: unknown; errors?: unknown } } | undefined)?.data;
    if (response.status >= 200 && response.status < 300) {
      // A bad attribute is no HTTP error: the user is identified and data.errors lists what was refused.
      if (Array.isArray(data?.errors) && data.errors.length > 0) {
        return { kind: 'rejected', reason: `HTTP ${response.status}: Formbricks refused attributes: ${data.errors.map(String).join('; ')}` };
      }
      if (data?.state !== undefined) return { kind: 'sent' };
      return { kind: 'retry', reason: `HTTP ${response.status} without the documented data.state` };
    }
    const message = describeError(response.body);
    if (response.status === 403) {
      return { kind: 'stop', reason: `HTTP 403: ${message}. Identifying users is a Formbricks Enterprise feature: enable it for this instance` };
    }
    if (response.status === 404) {
      // Every record goes to the same environment: a missing one fails them all alike.
      return { kind: 'stop', reason: `HTTP 404: ${message}. Check environmentId (and baseUrl) in the destination's settings` };
    }
    return standardOutcome(response, message);
  },
});
