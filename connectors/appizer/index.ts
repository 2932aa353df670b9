// Appizer — Create or update a user (https://docs.appizer.com/docs/api/endpoints/users/create-update).
// POST /v1/users with a Bearer key creates the user, or updates the one with the same user_id.
import { z } from 'zod';
import { defineConnector, type HttpResponse } from '../contract.js';
import { baseUrl, idString, jsonObject, secret, standardOutcome, vendorMessage } from '../shared.js';

const settings = z.strictObject({
  apiKey: secret('Appizer API key. Sent as Authorization: Bearer {apiKey}.'),
  baseUrl: baseUrl('https://api.appizer.com'),
});

const payload = z.strictObject({
  user_id: idString.describe('Your unique identifier for the user (required).'),
  email: z.string().optional().describe('User’s email address.'),
  phone: z
    .string()
    .regex(/^\+[1-9]\d{6,14}$/, 'must be a phone number with its country code, e.g. +1234567890 ("+" then 7 to 15 digits, no spaces)')
    .optional()
    .describe('User’s phone number with country code (e.g. +1234567890).'),
  properties: jsonObject.optional().describe('Additional user attributes as key-value pairs.'),
  origin: jsonObject.optional().describe('Free-form metadata describing where this user originated (e.g. acquisition channel, campaign, internal system).'),
});

/** Appizer error bodies are {error, message, code, details?}. */
interface AppizerBody {
  success?: boolean;
  error?: string;
  message?: string;
  code?: string;
  details?: { retry_after?: number };
}

function describeError(response: HttpResponse): string {
  const body = (response.body ?? {}) as AppizerBody;
  const message = body.message ?? body.error ?? vendorMessage(response.body);
  return body.code ? `${message} (${body.code})` : message;
}

export const appizer = defineConnector({
  type: 'appizer',
  title: 'Appizer users: create or update a user by user_id',
  settings,
  secrets: ['apiKey'],
  payload,
  keyField: 'user_id',
  // Users API: 500 requests/minute per key, plus plan quotas per hour and day (Free 1,000/h).
  // 5/s (300/min) leaves room for the app's own calls on the same key; the X-RateLimit-* headers
  // every answer carries slow the engine down before a plan quota is hit.
  defaults: {
    requestsPerSecond: 5,
    concurrency: 4,
    mapping: { user_id: 'id', email: 'email', phone: 'phone', 'properties.name': 'name' },
  },

  request: (config, record) => ({
    method: 'POST',
    url: `${config.baseUrl}/v1/users`,
    headers: { Authorization: `Bearer ${config.apiKey}`, 'Content-Type': 'application/json' },
    json: record,
  }),

  interpret(response) {
    const body = response.body as AppizerBody | undefined;
    if (response.status >= 200 && response.status < 300) {
      if (body?.success === true) return { kind: 'sent' };
      if (body?.success === false) return { kind: 'rejected', reason: `HTTP ${response.status}: ${describeError(response)}` };
      // A 2xx without the documented {success: true} is not a confirmation we can trust.
      return { kind: 'retry', reason: `HTTP ${response.status} without the documented {"success": true} body` };
    }
    if (response.status === 429) {
      // The 429 body says when to come back (details.retry_after, seconds); no Retry-After is promised.
      const seconds = body?.details?.retry_after;
      const reason = `HTTP 429: ${describeError(response)}`;
      return typeof seconds === 'number' && seconds > 0 ? { kind: 'retry', reason, afterMs: seconds * 1000 } : { kind: 'retry', reason };
    }
    return standardOutcome(response, describeError(response));
  },
});
