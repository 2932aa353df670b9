// Delivers one alert request through got: a few quick retries (connection errors, timeouts, 408,
// 429, 5xx) inside one hard time budget, so a dead endpoint costs seconds, never a run.
import got, { HTTPError, RequestError } from 'got';
import { RETRY_ERROR_CODES } from '../delivery/destination.js';
import { pauseFromHeaders } from '../delivery/rate-limiter.js';
import type { AlertRequest } from './request.js';

export interface Delivery {
  delivered: boolean;
  /** The last HTTP status, or null when no answer came (connection error, timeout). */
  status: number | null;
  attempts: number;
  ms: number;
  /** Why it was not delivered: `HTTP 404: channel_not_found`, `ECONNREFUSED: …`, `timed out after 5 s`. */
  reason?: string;
}

/** Retries after the first try: enough for a blip, few enough to stay inside the budget. */
export const ALERT_RETRIES = 2;
const FIRST_DELAY_MS = 250;
const RETRY_STATUSES = [408, 429, 500, 502, 503, 504];

const client = got.extend({
  responseType: 'text',
  throwHttpErrors: true,
  // A webhook that redirects is misconfigured: say so rather than re-POST somewhere else.
  followRedirect: false,
  headers: { 'user-agent': 'backflow/0.1 (+alerts)' },
});

function bodyText(body: unknown): string {
  const text = typeof body === 'string' ? body.trim() : '';
  return text.length > 200 ? `${text.slice(0, 199)}…` : text;
}

export async function deliver(request: AlertRequest, timeoutSeconds: number): Promise<Delivery> {
  const budgetMs = timeoutSeconds * 1000;
  const started = Date.now();
  const deadline = AbortSignal.timeout(budgetMs);
  let attempts = 0;
  const result = (fields: Omit<Delivery, 'attempts' | 'ms'>): Delivery => ({ ...fields, attempts, ms: Date.now() - started });
  try {
    const response = await client.post(request.url, {
      headers: request.headers,
      body: request.body,
      // One deadline for every attempt together: a hung endpoint uses the budget up and is not tried again.
      signal: deadline,
      retry: {
        limit: ALERT_RETRIES,
        methods: ['POST'],
        statusCodes: RETRY_STATUSES,
        errorCodes: RETRY_ERROR_CODES,
        maxRetryAfter: budgetMs,
        calculateDelay: ({ attemptCount, error, computedValue }) => {
          if (computedValue === 0 || deadline.aborted) return 0;
          const asked = error.response ? pauseFromHeaders(error.response.headers) : 0;
          const delay = asked > 0 ? asked : FIRST_DELAY_MS * 2 ** (attemptCount - 1);
          // A wait that would outlast the budget gives up now instead of being cut off later.
          return Date.now() + delay < started + budgetMs ? delay : 0;
        },
      },
      hooks: { beforeRequest: [() => void attempts++] },
    });
    if (response.statusCode >= 300) {
      return result({
        delivered: false,
        status: response.statusCode,
        reason: `HTTP ${response.statusCode}: the URL redirects; configure the address it redirects to`,
      });
    }
    return result({ delivered: true, status: response.statusCode });
  } catch (error) {
    if (error instanceof HTTPError) {
      const detail = bodyText(error.response.body);
      return result({ delivered: false, status: error.response.statusCode, reason: `HTTP ${error.response.statusCode}${detail ? `: ${detail}` : ''}` });
    }
    if (deadline.aborted || (error as Error).name === 'TimeoutError')
      return result({ delivered: false, status: null, reason: `timed out after ${timeoutSeconds} s` });
    if (error instanceof RequestError) return result({ delivered: false, status: null, reason: `${error.code ?? 'request error'}: ${error.message}` });
    throw error;
  }
}
