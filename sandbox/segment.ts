// A strict Segment Tracking API emulator (https://segment.com/docs/connections/sources/catalog/libraries/server/http-api/):
// POST /v1/batch (and its legacy alias /v1/import) plus the single-call endpoints, write key in the body or as the Basic auth
// user, gzip bodies, 500 KB per request, 32 KB per message and 2,500 messages per batch (400 above),
// de-duplication on messageId, and bad messages dropped one by one behind a 200, as Segment does.
import { gunzipSync } from 'node:zlib';
import { headerOf, HttpEmulator, type ReceivedRequest, type Reply } from './http-emulator.js';

export const MAX_REQUEST_BYTES = 500 * 1024;
export const MAX_MESSAGE_BYTES = 32 * 1024;
export const MAX_BATCH_MESSAGES = 2500;

const SINGLE_TYPES = ['identify', 'track', 'page', 'screen', 'group', 'alias'] as const;

export type SegmentMessage = Record<string, unknown> & { type: string; messageId?: string };

export interface ReceivedMessage {
  message: SegmentMessage;
  writeKey: string;
  receivedAt: string;
}

const refuse = (status: number, error: string): Reply => ({ status, body: { success: false, error } });

/** The write key of a request: the body's `writeKey`, else the Basic auth user (the colon may be missing). */
function writeKeyOf(request: ReceivedRequest, body: Record<string, unknown>): string | undefined {
  if (typeof body.writeKey === 'string' && body.writeKey.length > 0) return body.writeKey;
  const authorization = headerOf(request, 'authorization');
  const basic = authorization && /^Basic\s+(.+)$/i.exec(authorization);
  if (!basic) return undefined;
  const user = Buffer.from(basic[1], 'base64').toString('utf8').split(':')[0];
  return user || undefined;
}

/** Why Segment would drop this message (answering 200 all the same), or undefined when it keeps it. */
function dropReason(message: SegmentMessage): string | undefined {
  if (!SINGLE_TYPES.includes(message.type as (typeof SINGLE_TYPES)[number])) return `unknown type ${JSON.stringify(message.type)}`;
  const hasId = (field: string) => typeof message[field] === 'string' && message[field].length > 0;
  if (message.type === 'alias') return hasId('userId') && hasId('previousId') ? undefined : 'alias needs userId and previousId';
  if (!hasId('userId') && !hasId('anonymousId')) return 'needs a userId or an anonymousId';
  if (message.type === 'track' && !hasId('event')) return 'track needs an event name';
  if (message.type === 'group' && !hasId('groupId')) return 'group needs a groupId';
  for (const field of ['traits', 'properties', 'context']) {
    const value = message[field];
    if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) return `${field} must be an object`;
  }
  if (typeof message.messageId === 'string' && message.messageId.length > 100) return 'messageId is longer than 100 characters';
  return undefined;
}

export class SegmentEmulator extends HttpEmulator {
  /** Messages kept, in arrival order (a repeated messageId is kept once). */
  readonly messages: ReceivedMessage[] = [];
  /** Messages Segment would drop behind a 200, with why. */
  readonly dropped: { message: unknown; reason: string }[] = [];
  /** Batches accepted: how many messages and (decompressed) bytes each held. */
  readonly batches: { messages: number; bytes: number }[] = [];
  duplicates = 0;
  private readonly seenMessageIds = new Set<string>();

  constructor(readonly writeKeys: string[] = ['wk_test_emulator']) {
    super((request) => this.handle(request));
  }

  /** The identify messages kept, in arrival order. */
  get identifies(): SegmentMessage[] {
    return this.messages.filter((entry) => entry.message.type === 'identify').map((entry) => entry.message);
  }

  private handle(request: ReceivedRequest): Reply {
    const path = request.path.split('?')[0];
    const endpoint = /^\/v1\/(batch|import|identify|track|page|screen|group|alias)$/.exec(path)?.[1];
    if (request.method !== 'POST' || !endpoint) return refuse(404, 'Not Found');
    if (!headerOf(request, 'content-type')?.startsWith('application/json')) return refuse(400, 'Content-Type must be application/json');

    let raw = request.rawBody;
    if (headerOf(request, 'content-encoding')?.toLowerCase() === 'gzip') {
      try {
        raw = gunzipSync(raw);
      } catch {
        return refuse(400, 'Invalid gzip body');
      }
    }
    if (raw.length > MAX_REQUEST_BYTES) return refuse(400, `Request body is ${raw.length} bytes; the limit is 500 KB`);
    let body: unknown;
    try {
      body = JSON.parse(raw.toString('utf8'));
    } catch {
      return refuse(400, 'Invalid JSON');
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return refuse(400, 'Invalid JSON: expected an object');
    const fields = body as Record<string, unknown>;

    const writeKey = writeKeyOf(request, fields);
    if (!writeKey || !this.writeKeys.includes(writeKey)) return refuse(401, 'Invalid write key');

    const batched = endpoint === 'batch' || endpoint === 'import';
    if (batched && !Array.isArray(fields.batch)) return refuse(400, 'batch must be an array');
    const { writeKey: _bodyKey, ...single } = fields;
    const messages = (batched ? fields.batch : [{ ...single, type: endpoint }]) as SegmentMessage[];
    if (messages.length > MAX_BATCH_MESSAGES) return refuse(400, `batch holds ${messages.length} messages; the limit is 2500`);
    for (const message of messages) {
      const bytes = Buffer.byteLength(JSON.stringify(message));
      if (bytes > MAX_MESSAGE_BYTES) return refuse(400, `a message is ${bytes} bytes; the limit is 32 KB`);
    }

    const receivedAt = new Date().toISOString();
    for (const message of messages) {
      const reason = message && typeof message === 'object' ? dropReason(message) : 'not an object';
      if (reason) {
        this.dropped.push({ message, reason });
        continue;
      }
      if (typeof message.messageId === 'string') {
        if (this.seenMessageIds.has(message.messageId)) {
          this.duplicates++;
          continue;
        }
        this.seenMessageIds.add(message.messageId);
      }
      this.messages.push({ message, writeKey, receivedAt });
    }
    this.batches.push({ messages: messages.length, bytes: raw.length });
    return { status: 200, body: { success: true } };
  }
}
