// Userpilot — Identify a user (https://docs.userpilot.com/api-references/endpoints/realtime/identify-user).
// POST https://{environment}.userpilot.io/v1/identify with `Authorization: Token {key}`; 202 Accepted.
import { z } from 'zod';
import { defineConnector } from '../contract.js';
import { baseUrlOverride, idString, secret, standardOutcome, vendorMessage } from '../shared.js';

const settings = z.strictObject({
  environment: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/i, 'must be the host prefix alone, e.g. analytex (US) or analytex-eu (EU)')
    .describe('Host prefix of your Userpilot API: analytex (US), analytex-eu (EU) or your dedicated one; requests go to https://{environment}.userpilot.io.'),
  apiKey: secret('API key from Userpilot’s Environment Settings. Sent as Authorization: Token {apiKey}.'),
  baseUrl: baseUrlOverride('Replaces https://{environment}.userpilot.io (a proxy, or a local emulator in tests).'),
});

/** Userpilot stores metadata values as primitives: text, numbers, or ISO 8601 dates as text. */
const primitive = z.union([z.string(), z.number().finite()], {
  error: 'must be text or a number (Userpilot keeps primitives only; dates as ISO 8601 text)',
});

const payload = z.strictObject({
  user_id: idString.describe('Your unique identifier for the user (required).'),
  metadata: z.record(z.string(), primitive).optional().describe('User properties (name, email, plan, …); values are text or numbers.'),
  company: z
    .looseObject({ company_id: idString.describe('Your unique identifier for the company (required with company).') })
    .catchall(primitive)
    .optional()
    .describe('The user’s company: company_id plus company properties (text or numbers).'),
});

/** Userpilot answers errors as {errors: [{details, error, error_code, message}]}. */
function errorMessages(body: unknown): string {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return vendorMessage(body);
  return errors
    .map((entry) => {
      const item = (entry ?? {}) as Record<string, unknown>;
      const text = [item.message, item.error, item.details].find((value) => typeof value === 'string' && value.length > 0) as string | undefined;
      const code = typeof item.error_code === 'string' ? ` (${item.error_code})` : '';
      return `${text ?? JSON.stringify(entry)}${code}`;
    })
    .join('; ');
}

export const userpilot = defineConnector({
  type: 'userpilot',
  title: 'Userpilot: identify a user (and their company) by user_id',
  settings,
  secrets: ['apiKey'],
  payload,
  keyField: 'user_id',
  // Identify allows 600 requests/minute per token and sends no rate-limit headers, so the pacing
  // itself must stay under it: 8/s (480/min) leaves room for other callers on the same token.
  defaults: {
    requestsPerSecond: 8,
    concurrency: 4,
    mapping: { user_id: 'id', 'metadata.name': 'name', 'metadata.email': 'email', 'company.company_id': 'company_id' },
  },

  request: (config, record) => ({
    method: 'POST',
    url: `${config.baseUrl ?? `https://${config.environment}.userpilot.io`}/v1/identify`,
    headers: {
      Authorization: `Token ${config.apiKey}`,
      'X-API-Version': '2020-09-22',
      'Content-Type': 'application/json',
    },
    json: record,
  }),

  // Success is 202 Accepted (processed asynchronously); every error keeps Userpilot's messages.
  interpret: (response) => standardOutcome(response, errorMessages(response.body)),
});
