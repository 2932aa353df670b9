// A strict Vitally Analytics API emulator: POST /analytics/v1/user as its page
// (https://docs.vitally.io/en/articles/9874145-vitally-s-https-analytics-api-user) and Vitally's
// REST API docs describe it: Basic auth (base64 of "{secret key}:"), userId and traits required,
// accountId or organizationId, messageId or timestamp, de-duplication on messageId, RateLimit-*
// headers, and the account switch that blocks the `user` message type. POST /analytics/v1/batch takes
// a JSON array of 1 to 100 such messages, each with "type" (this emulator knows "user"): one bad
// message refuses the whole batch (400 naming its index) and nothing of it is applied.
//
// Vitally documents only that a blocked type answers 400; the wording is ours (see
// connectors/vitally/README.md): {"error": "The \"user\" message type is blocked for this account. …"}.
import { headerOf, HttpEmulator, type Fault, type ReceivedRequest, type Reply } from './http-emulator.js';
import { RateWindow } from './rate-window.js';

const KNOWN = new Set(['userId', 'accountId', 'organizationId', 'traits', 'messageId', 'timestamp']);

/** Vitally's documented limit on messages per batch request. */
export const BATCH_LIMIT = 100;

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
  /**
   * userIds Vitally refuses, with its words: any request carrying one (alone or in a batch) answers
   * 400, as for a check the connector's payload schema cannot know of.
   */
  readonly refusedUsers = new Map<string, string>();
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

  /** The bodies of every batch request received, in order. */
  get batchBodies(): Record<string, unknown>[][] {
    return this.received.filter((request) => request.path === '/analytics/v1/batch').map((request) => request.body as Record<string, unknown>[]);
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
    const batch = request.path === '/analytics/v1/batch';
    if (request.method !== 'POST' || (!batch && request.path !== '/analytics/v1/user')) return vitallyError(404, 'Not Found');
    const authorization = headerOf(request, 'authorization') ?? '';
    if (authorization !== `Basic ${this.basicAuthHeaderValue}`) return vitallyError(401, 'Unauthorized: invalid Secret Token or Basic Auth Header');
    if (this.blockedTypes.has('user')) return vitallyError(400, BLOCKED_USER_MESSAGE);
    if (!headerOf(request, 'content-type')?.startsWith('application/json')) return vitallyError(400, 'Content-Type must be application/json');
    return batch ? this.answerBatch(request.body) : this.answerUser(request.body);
  }

  private answerUser(body: unknown): Reply {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return vitallyError(400, 'Request body must be a JSON object');
    const problem = userProblem(body as Record<string, unknown>) ?? this.refusal(body as Record<string, unknown>);
    if (problem) return vitallyError(400, problem);
    this.apply(body as Record<string, unknown>);
    return { status: 200, body: { message: 'Success.' } };
  }

  private answerBatch(body: unknown): Reply {
    if (!Array.isArray(body)) return vitallyError(400, 'Request body must be a JSON array of messages');
    if (body.length === 0) return vitallyError(400, 'A batch must hold at least one message');
    if (body.length > BATCH_LIMIT) return vitallyError(400, `A batch holds at most ${BATCH_LIMIT} messages, got ${body.length}`);
    // Every message is checked before any is applied: a refused batch changes nothing.
    for (const [index, message] of body.entries()) {
      if (message === null || typeof message !== 'object' || Array.isArray(message)) return vitallyError(400, `[${index}]: a message must be a JSON object`);
      const { type, ...fields } = message as Record<string, unknown>;
      if (type === undefined) return vitallyError(400, `[${index}]: "type" is required`);
      if (type !== 'user') return vitallyError(400, `[${index}]: unsupported message type ${JSON.stringify(type)}`);
      const problem = userProblem(fields) ?? this.refusal(fields);
      if (problem) return vitallyError(400, `[${index}]: ${problem}`);
    }
    for (const message of body as Record<string, unknown>[]) {
      const { type: _type, ...fields } = message;
      this.apply(fields);
    }
    return { status: 200, body: { message: 'Success.' } };
  }

  private refusal(fields: Record<string, unknown>): string | undefined {
    return typeof fields.userId === 'string' ? this.refusedUsers.get(fields.userId) : undefined;
  }

  /** Applies one valid user message, unless its messageId was seen (then it changes nothing). */
  private apply(fields: Record<string, unknown>): void {
    if (typeof fields.messageId === 'string') {
      if (this.messageIds.has(fields.messageId)) {
        this.duplicates++;
        return;
      }
      this.messageIds.add(fields.messageId);
    }
    const userId = fields.userId as string;
    const previous = this.users.get(userId);
    this.users.set(userId, { ...previous, ...fields, traits: { ...(previous?.traits as object | undefined), ...(fields.traits as object) } });
  }
}

/** What is wrong with a user message, as Vitally's page describes it (undefined: nothing). */
function userProblem(fields: Record<string, unknown>): string | undefined {
  for (const name of Object.keys(fields)) {
    if (!KNOWN.has(name)) return `Unknown field "${name}"`;
  }
  if (typeof fields.userId !== 'string' || fields.userId.length === 0) return '"userId" is required';
  if (fields.traits === null || typeof fields.traits !== 'object' || Array.isArray(fields.traits)) return '"traits" is required (an object, possibly empty)';
  for (const name of ['accountId', 'organizationId', 'messageId', 'timestamp']) {
    if (fields[name] !== undefined && typeof fields[name] !== 'string') return `"${name}" must be a string`;
  }
  if (fields.accountId === undefined && fields.organizationId === undefined) return '"accountId" or "organizationId" is required';
  if (fields.messageId === undefined && fields.timestamp === undefined) return '"messageId" or "timestamp" is required';
  if (typeof fields.timestamp === 'string' && Number.isNaN(Date.parse(fields.timestamp))) return '"timestamp" must be an ISO 8601 date';
  return undefined;
}
