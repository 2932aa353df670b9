// The HTTP request of one alert message: the body (the message itself for a webhook, Block Kit for
// Slack), redacted once here, the last step before any byte leaves, and the webhook's signature.
import { createHmac } from 'node:crypto';
import type { AlertConfig } from '../config/schema.js';
import { redactDeep } from '../redact.js';
import type { AlertMessage } from './message.js';
import { slackMessage } from './slack.js';

export interface AlertRequest {
  url: string;
  headers: Record<string, string>;
  /** The exact bytes sent (and signed). */
  body: string;
}

export const SIGNATURE_HEADER = 'x-backflow-signature';
export const TIMESTAMP_HEADER = 'x-backflow-timestamp';

/** `sha256=<hex HMAC-SHA256 of the body>`, the value of X-Backflow-Signature. */
export function signature(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body, 'utf8').digest('hex')}`;
}

export function alertRequest(alert: AlertConfig, message: AlertMessage): AlertRequest {
  // A vendor's words in an error or a rejection may echo a credential: scrub before anything else.
  const safe = redactDeep(message);
  if (alert.type === 'slack') return { url: alert.url, headers: { 'content-type': 'application/json' }, body: JSON.stringify(slackMessage(safe)) };
  const body = JSON.stringify(safe);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    // The same instant as the body's sentAt, which the signature covers: a receiver checks either.
    [TIMESTAMP_HEADER]: String(Math.floor(Date.parse(safe.sentAt) / 1000)),
  };
  if (alert.secret) headers[SIGNATURE_HEADER] = signature(body, alert.secret);
  return { url: alert.url, headers, body };
}
