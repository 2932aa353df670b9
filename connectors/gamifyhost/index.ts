// GamifyHost — Track / Enrich User (https://docs.gamifyhost.com/user-journeys/track-user/).
// POST /v1/user-journeys/users with X-API-Key creates or updates the profile keyed by externalId.
import { z } from 'zod';
import { defineConnector } from '../contract.js';
import { ISO_COUNTRY_CODES } from '../iso-country.js';
import { baseUrl, header, idString, jsonObject, secret, standardOutcome, vendorMessage } from '../shared.js';

const settings = z.strictObject({
  apiKey: secret('Public key (pk_live_… or pk_test_…); its prefix selects the LIVE or TEST environment. Sent as X-API-Key.'),
  baseUrl: baseUrl('https://api.gamifyhost.com'),
});

const payload = z.strictObject({
  externalId: idString.describe('Your unique user identifier (required).'),
  displayName: z.string().optional().describe('User’s display name.'),
  email: z.string().optional().describe('User’s email address.'),
  phone: z.string().max(20, 'at most 20 characters').optional().describe('Phone number (max 20 chars).'),
  country: z
    .string()
    .refine((code) => ISO_COUNTRY_CODES.has(code), 'must be an ISO 3166-1 alpha-2 code such as NG, US or GB')
    .optional()
    .describe('ISO 3166-1 alpha-2 code (e.g. NG, US, GB).'),
  device: z.enum(['mobile', 'desktop', 'tablet']).optional().describe('Device type: mobile, desktop or tablet.'),
  source: z.string().optional().describe('Acquisition channel (e.g. organic, facebook_ads, referral).'),
  tags: jsonObject.optional().describe('Custom key-value tags for filtering.'),
  metadata: jsonObject.optional().describe('Arbitrary metadata stored with the profile.'),
});

export const gamifyhost = defineConnector({
  type: 'gamifyhost',
  title: 'GamifyHost user journeys: create or enrich a user profile',
  settings,
  secrets: ['apiKey'],
  payload,
  keyField: 'externalId',
  // No documented rate limit and no batch endpoint: stay gentle and back off on 429/5xx.
  defaults: {
    requestsPerSecond: 10,
    concurrency: 4,
    mapping: { externalId: 'id', displayName: 'name', email: 'email', country: 'country' },
  },

  request: (config, record) => ({
    method: 'POST',
    url: `${config.baseUrl}/v1/user-journeys/users`,
    headers: { 'X-API-Key': config.apiKey, 'Content-Type': 'application/json' },
    json: record,
  }),

  // Every answer is an envelope {status: "success"|"error", message, code, data?}.
  interpret(response) {
    const body = response.body as { status?: string; message?: string } | undefined;
    const message = body?.message ?? vendorMessage(response.body);
    if (response.status >= 200 && response.status < 300 && body?.status === 'error') {
      return { kind: 'rejected', reason: `HTTP ${response.status}: ${message}` };
    }
    if (response.status === 200 && body?.status !== 'success') {
      // A 2xx without the documented envelope is not a confirmation we can trust.
      return { kind: 'retry', reason: `HTTP 200 without the success envelope (content-type ${header(response, 'content-type') ?? 'none'})` };
    }
    return standardOutcome(response, message);
  },
});
