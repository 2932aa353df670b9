// A strict Userpilot emulator: POST /v1/identify as Userpilot's pages describe it
// (https://docs.userpilot.com/api-references/endpoints/realtime/identify-user and
// https://docs.userpilot.com/api-references/real-time/identify-user): `Authorization: Token {key}`, `X-API-Version: 2020-09-22`, user_id required, primitive metadata,
// company with company_id, 202 Accepted, errors as {errors: [{details, error, error_code, message}]},
// and 600 identify requests a minute per token (429 beyond, no rate-limit headers).
import { headerOf, HttpEmulator, type Fault, type ReceivedRequest, type Reply } from './http-emulator.js';
import { RateWindow } from './rate-window.js';

const KNOWN = new Set(['user_id', 'metadata', 'company']);

export interface UserpilotErrorItem {
  error: string;
  error_code: string;
  message: string;
  details?: string;
}

export function userpilotError(status: number, ...errors: UserpilotErrorItem[]): Reply {
  return { status, body: { errors: errors.map((item) => ({ details: '', ...item })) } };
}

export const userpilotFault = (status: number, ...errors: UserpilotErrorItem[]): Fault => ({ kind: 'status', ...userpilotError(status, ...errors) });

const invalid = (message: string, details = '') => userpilotError(400, { error: 'Bad Request', error_code: 'VALIDATION_ERROR', message, details });
const isPrimitive = (value: unknown) => typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));

export class UserpilotEmulator extends HttpEmulator {
  readonly users = new Map<string, Record<string, unknown>>();
  private readonly quotas = new Map<string, RateWindow>();

  constructor(readonly validKeys: string[]) {
    super((request) => this.handle(request));
  }

  get sentBodies(): Record<string, unknown>[] {
    return this.received.filter((request) => request.path === '/v1/identify').map((request) => request.body as Record<string, unknown>);
  }

  private handle(request: ReceivedRequest): Reply {
    if (request.method !== 'POST' || request.path !== '/v1/identify')
      return userpilotError(404, { error: 'Not Found', error_code: 'NOT_FOUND', message: 'Not found' });
    const authorization = headerOf(request, 'authorization') ?? '';
    const key = authorization.startsWith('Token ') ? authorization.slice('Token '.length) : '';
    if (!this.validKeys.includes(key))
      return userpilotError(401, { error: 'Unauthorized', error_code: 'UNAUTHORIZED', message: 'Unauthorized - Invalid API key' });
    let quota = this.quotas.get(key);
    if (!quota) this.quotas.set(key, (quota = new RateWindow(600, 60_000)));
    if (!quota.take(request.at).allowed) return userpilotError(429, { error: 'Too Many Requests', error_code: 'RATE_LIMITED', message: 'Rate limit exceeded' });
    if (headerOf(request, 'x-api-version') !== '2020-09-22') return invalid('X-API-Version header is required', 'expected 2020-09-22');
    if (!headerOf(request, 'content-type')?.startsWith('application/json')) return invalid('Content-Type must be application/json');

    const body = request.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return invalid('Request body must be a JSON object');
    const fields = body as Record<string, unknown>;
    for (const name of Object.keys(fields)) {
      if (!KNOWN.has(name)) return invalid(`Unknown field ${name}`);
    }
    if (typeof fields.user_id !== 'string' || fields.user_id.length === 0) return invalid('user_id is required');
    for (const name of ['metadata', 'company'] as const) {
      const value = fields[name];
      if (value === undefined) continue;
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return invalid(`${name} must be an object`);
      for (const [property, item] of Object.entries(value)) {
        if (!isPrimitive(item)) return invalid(`${name}.${property} must be a string, number or date`);
      }
    }
    const company = fields.company as Record<string, unknown> | undefined;
    if (company && (typeof company.company_id !== 'string' || company.company_id.length === 0)) return invalid('company.company_id is required');

    const previous = this.users.get(fields.user_id);
    this.users.set(fields.user_id, {
      ...previous,
      ...fields,
      metadata: { ...(previous?.metadata as object | undefined), ...(fields.metadata as object | undefined) },
    });
    return { status: 202, body: '' };
  }
}
