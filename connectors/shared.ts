// Small pieces every connector uses: field types that tolerate warehouse values, and the standard
// reading of HTTP statuses, so each connector only spells out what its vendor does differently.
import { z } from 'zod';
import type { HttpResponse, Outcome } from './contract.js';

/** An identifier: warehouses hand us integers as often as strings; vendors want strings. */
export const idString = z
  .union([z.string(), z.number().int(), z.bigint()], {
    error: (issue) => (issue.input === undefined ? 'required' : 'must be text or a whole number'),
  })
  .transform((value) => String(value))
  .pipe(z.string().min(1, 'must not be empty'));

/** A secret setting (API key, token): a non-empty string, redacted everywhere. */
export const secret = (description: string) => z.string().min(1, 'must not be empty').describe(description);

/** A base URL without a trailing slash. */
export const baseUrl = (defaultUrl: string, description = 'Override the API base URL (e.g. a sandbox or proxy).') =>
  z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .default(defaultUrl)
    .transform((url) => url.replace(/\/+$/, ''))
    .describe(description);

/**
 * An optional base URL for vendors whose host is built from another setting (a subdomain or an
 * environment): when set, it replaces that host (a proxy, or an emulator in tests).
 */
export const baseUrlOverride = (description: string) =>
  z
    .url({ protocol: /^https?$/, error: 'must be an http(s) URL' })
    .transform((url) => url.replace(/\/+$/, ''))
    .optional()
    .describe(description);

/** A JSON object of free-form values (tags, metadata, properties). */
export const jsonObject = z.record(z.string(), z.unknown());

/** Reads the first header value, case-insensitively (Node lower-cases incoming header names). */
export function header(response: HttpResponse, name: string): string | undefined {
  const value = response.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** The vendor's own words from an error body: `message`, `error`, or the raw text. */
export function vendorMessage(body: unknown): string {
  if (body && typeof body === 'object') {
    const record = body as Record<string, unknown>;
    for (const key of ['message', 'error', 'detail', 'details']) {
      const value = record[key];
      if (typeof value === 'string' && value.length > 0) return value;
    }
    return JSON.stringify(body).slice(0, 500);
  }
  return String(body ?? '').slice(0, 500) || '(empty body)';
}

/**
 * The common meaning of a status: 2xx sent, 401/403 stop, 408/429/5xx retry, other 4xx rejected.
 * Connectors call this after handling their own quirks.
 */
export function standardOutcome(response: HttpResponse, message = vendorMessage(response.body)): Outcome {
  const { status } = response;
  const reason = `HTTP ${status}: ${message}`;
  if (status >= 200 && status < 300) return { kind: 'sent' };
  if (status === 401 || status === 403) {
    return { kind: 'stop', reason: `${reason}. The destination refused the credentials or the account: check the destination's settings` };
  }
  if (status === 408 || status === 429 || status >= 500) return { kind: 'retry', reason };
  return { kind: 'rejected', reason };
}
