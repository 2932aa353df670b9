// A strict Vitally Analytics API emulator: POST /analytics/v1/user as its page
// (https://docs.vitally.io/en/articles/9874145-vitally-s-https-analytics-api-user) and Vitally's
// REST API docs describe it: Basic auth (base64 of "{secret key}:"), userId and traits required,
// accountId or organizationId, messageId or timestamp, de-duplication on messageId, RateLimit-*
// headers, and the account switch that blocks the `user` message type.
//
// Vitally documents only that a blocked type answers 400; the wording is ours (see
// connectors/vitally/README.md): {"error": "The \"user\" message type is blocked for this account. …"}.
import { headerOf, HttpEmulator, type Fault, type ReceivedRequest, type Reply } from './http-emulator.js';
import { RateWindow } from './rate-window.js';

const KNOWN = new Set(['userId', 'accountId', 'organizationId', 'traits', 'messageId', 'timestamp']);

export function vitallyError(status: number, error: string): Reply {
  return { status, body: { error } };
}

export const vitallyFault = (status: number, error: string): Fault => ({ kind: 'status', ...vitallyError(status, error) });

export const BLOCKED_USER_MESSAGE = 'The "user" message type is blocked for this account. Contact support@vitally.io to update your blocked message types.';

export class VitallyEmulator extends HttpEmulator {
  readonly users = new Map<string, Record<string, unknown>>();
  /** Message types the account blocks (e.g. "user"). */
  readonly blockedTypes = new Set<string>();
  /** messageIds already applied: a repeat answers 200 but changes nothing. */
  readonly messageIds = new Set<string>();
  duplicates = 0;
  private readonly quota = new RateWindow(1000, 60_000);

  /** The account's secret key; change it to see the old one refused. */
  constructor(public secretKey: string) {
    super((request) => this.handle(request));
  }

  /** The ready "Basic Auth Header" value the Vitally app shows for this key. */
  get basicAuthHeaderValue(): string {
    return Buffer.from(`${this.secretKey}:`).toString('base64');
  }

  get sentBodies(): Record<string, unknown>[] {
    return this.received.filter((request) => request.path === '/analytics/v1/user').map((request) => request.body as Record<string, unknown>);
  }

  private handle(request: ReceivedRequest): Reply {
    const window = this.quota.take(request.at);
    const headers = {
      'RateLimit-Limit': `${this.quota.limit}, ${this.quota.limit};window=60`,
      'RateLimit-Remaining': String(window.remaining),
      'RateLimit-Reset': String(Math.ceil((window.resetAtMs - Date.now()) / 1000)),
    };
    const reply = window.allowed ? this.answer(request) : vitallyError(429, 'Too Many Requests');
    return { ...reply, headers };
  }

  private answer(request: ReceivedRequest): Reply {
    if (request.method !== 'POST' || request.path !== '/analytics/v1/user') return vitallyError(404, 'Not Found');
    const authorization = headerOf(request, 'authorization') ?? '';
    if (authorization !== `Basic ${this.basicAuthHeaderValue}`) return vitallyError(401, 'Unauthorized: invalid Secret Token or Basic Auth Header');
    if (this.blockedTypes.has('user')) return vitallyError(400, BLOCKED_USER_MESSAGE);
    if (!headerOf(request, 'content-type')?.startsWith('application/json')) return vitallyError(400, 'Content-Type must be application/json');

    const body = request.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return vitallyError(400, 'Request body must be a JSON object');
    const fields = body as Record<string, unknown>;
    for (const name of Object.keys(fields)) {
      if (!KNOWN.has(name)) return vitallyError(400, `Unknown field "${name}"`);
    }
    if (typeof fields.userId !== 'string' || fields.userId.length === 0) return vitallyError(400, '"userId" is required');
    if (fields.traits === null || typeof fields.traits !== 'object' || Array.isArray(fields.traits)) {
      return vitallyError(400, '"traits" is required (an object, possibly empty)');
    }
    for (const name of ['accountId', 'organizationId', 'messageId', 'timestamp']) {
      if (fields[name] !== undefined && typeof fields[name] !== 'string') return vitallyError(400, `"${name}" must be a string`);
    }
    if (fields.accountId === undefined && fields.organizationId === undefined) return vitallyError(400, '"accountId" or "organizationId" is required');
    if (fields.messageId === undefined && fields.timestamp === undefined) return vitallyError(400, '"messageId" or "timestamp" is required');
    if (typeof fields.timestamp === 'string' && Number.isNaN(Date.parse(fields.timestamp))) return vitallyError(400, '"timestamp" must be an ISO 8601 date');

    if (typeof fields.messageId === 'string') {
      if (this.messageIds.has(fields.messageId)) {
        this.duplicates++;
        return { status: 200, body: { message: 'Success.' } };
      }
      this.messageIds.add(fields.messageId);
    }
    const previous = this.users.get(fields.userId);
    this.users.set(fields.userId, { ...previous, ...fields, traits: { ...(previous?.traits as object | undefined), ...fields.traits } });
    return { status: 200, body: { message: 'Success.' } };
  }
}
