// A strict Appizer emulator: POST /v1/users as Appizer's pages describe it
// (https://docs.appizer.com/docs/api/endpoints/users/create-update, https://docs.appizer.com/docs/api/rate-limits):
// Bearer auth, user_id required, the documented error bodies {error, message, code, details?}, and the
// X-RateLimit-* headers on every answer, with a 429 carrying details.retry_after once the quota is spent.
import type { Fault } from './http-emulator.js';
import { headerOf, HttpEmulator, type ReceivedRequest, type Reply } from './http-emulator.js';
import { RateWindow } from './rate-window.js';

const KNOWN = new Set(['user_id', 'email', 'phone', 'properties', 'origin']);
const PHONE_WITH_COUNTRY_CODE = /^\+[1-9]\d{6,14}$/;

/** Appizer's documented error body, as a reply or (via `fault`) an injected fault. */
export function appizerError(status: number, code: string, message: string, details?: Record<string, unknown>): Reply {
  const error =
    {
      400: 'Bad Request',
      401: 'Unauthorized',
      403: 'Forbidden',
      404: 'Not Found',
      429: 'Too Many Requests',
      500: 'Internal Server Error',
      503: 'Service Unavailable',
    }[status] ?? 'Error';
  return { status, body: { error, message, code, ...(details ? { details } : {}) } };
}

export const appizerFault = (status: number, code: string, message: string, details?: Record<string, unknown>): Fault => ({
  kind: 'status',
  ...appizerError(status, code, message, details),
});

export class AppizerEmulator extends HttpEmulator {
  readonly users = new Map<string, Record<string, unknown>>();
  readonly revokedKeys = new Set<string>();
  private quota: RateWindow;

  constructor(
    readonly validKeys: string[],
    quota: { limit: number; windowMs: number } = { limit: 500, windowMs: 60_000 },
  ) {
    super((request) => this.handle(request));
    this.quota = new RateWindow(quota.limit, quota.windowMs);
  }

  /** Changes the quota (e.g. a tiny one to see the engine follow X-RateLimit-*). */
  setQuota(limit: number, windowMs: number): void {
    this.quota = new RateWindow(limit, windowMs);
  }

  /** Bodies of every user write received, in arrival order. */
  get sentBodies(): Record<string, unknown>[] {
    return this.received.filter((request) => request.path === '/v1/users').map((request) => request.body as Record<string, unknown>);
  }

  /** Every answer, 429 included, carries the quota headers. */
  private handle(request: ReceivedRequest): Reply {
    const window = this.quota.take(request.at);
    const headers = {
      'X-RateLimit-Limit': String(this.quota.limit),
      'X-RateLimit-Remaining': String(window.remaining),
      'X-RateLimit-Reset': String(Math.ceil(window.resetAtMs / 1000)),
    };
    if (!window.allowed) {
      const retryAfter = Math.max(1, Math.ceil((window.resetAtMs - Date.now()) / 1000));
      const reply = appizerError(429, 'RATE_LIMIT_EXCEEDED', 'Rate limit exceeded', {
        limit: this.quota.limit,
        window: `${this.quota.windowMs / 1000}s`,
        retry_after: retryAfter,
      });
      return { ...reply, headers };
    }
    return { ...this.answer(request), headers };
  }

  private answer(request: ReceivedRequest): Reply {
    if (request.method !== 'POST' || request.path !== '/v1/users') return appizerError(404, 'NOT_FOUND', `No route for ${request.method} ${request.path}`);

    const authorization = headerOf(request, 'authorization') ?? '';
    const key = authorization.startsWith('Bearer ') ? authorization.slice('Bearer '.length) : '';
    if (!key) return appizerError(401, 'MISSING_API_KEY', 'Missing API key: send Authorization: Bearer YOUR_API_KEY');
    if (this.revokedKeys.has(key)) return appizerError(403, 'REVOKED_API_KEY', 'This API key has been revoked');
    if (!this.validKeys.includes(key)) return appizerError(401, 'INVALID_API_KEY', 'Invalid API key');

    const body = request.body;
    if (!headerOf(request, 'content-type')?.startsWith('application/json') || body === null || typeof body !== 'object' || Array.isArray(body)) {
      return appizerError(400, 'INVALID_BODY', 'Invalid request body: expected a JSON object');
    }
    const fields = body as Record<string, unknown>;
    if (typeof fields.user_id !== 'string' || fields.user_id.length === 0) return appizerError(400, 'MISSING_FIELD', 'user_id is required');
    for (const name of Object.keys(fields)) {
      if (!KNOWN.has(name)) return appizerError(400, 'UNKNOWN_FIELD', `Unknown field: ${name}`);
    }
    for (const name of ['email', 'phone']) {
      if (fields[name] !== undefined && typeof fields[name] !== 'string') return appizerError(400, 'INVALID_TYPE', `${name} must be a string`);
    }
    for (const name of ['properties', 'origin']) {
      const value = fields[name];
      if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value)))
        return appizerError(400, 'INVALID_TYPE', `${name} must be an object`);
    }
    if (typeof fields.phone === 'string' && !PHONE_WITH_COUNTRY_CODE.test(fields.phone)) {
      return appizerError(400, 'INVALID_TYPE', 'phone must include the country code, e.g. +1234567890');
    }

    const previous = this.users.get(fields.user_id);
    const merged = {
      ...previous,
      ...fields,
      properties: { ...(previous?.properties as object | undefined), ...(fields.properties as object | undefined) },
    };
    this.users.set(fields.user_id, merged);
    return {
      status: previous ? 200 : 201,
      body: { success: true, user_id: `usr_${this.users.size}`, external_id: fields.user_id, message: 'User created/updated successfully' },
    };
  }
}
