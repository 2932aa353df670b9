// Validation of one Segment message: what the Tracking API requires of each type, the 32 KB limit,
// and the event time (clock-skew corrected), turning a raw message into an event ready to store.
import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { MAX_MESSAGE_BYTES, MAX_MESSAGE_ID_LENGTH } from './limits.js';

export const EVENT_TYPES = ['identify', 'track', 'page', 'screen', 'group', 'alias'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/** A validated message, as the store keeps it. Times are ISO-8601 UTC text, so they compare as strings. */
export interface IncomingEvent {
  messageId: string;
  type: EventType;
  userId: string | null;
  anonymousId: string | null;
  /** track: the event name. */
  event: string | null;
  /** identify: the user's traits; group: the group's traits. */
  traits: Record<string, unknown> | null;
  groupId: string | null;
  /** alias: the earlier (anonymous) id being linked to userId. */
  previousId: string | null;
  /** When it happened, corrected for the client's clock skew. */
  timestamp: string;
  receivedAt: string;
  /** The message as received (without any writeKey), as JSON. */
  body: string;
}

// Ids arrive as strings (numbers from older clients); null, absent and "" all mean "not given".
const id = z
  .union([z.string(), z.number()], { error: 'must be a string' })
  .nullish()
  .transform((value) => (value === null || value === undefined || value === '' ? null : String(value)));

const time = z
  .string({ error: 'must be an ISO-8601 date string' })
  .refine((text) => !Number.isNaN(Date.parse(text)), 'must be an ISO-8601 date, e.g. 2026-01-31T12:00:00Z')
  .nullish();

const object = z.record(z.string(), z.unknown(), { error: 'must be a JSON object' }).nullish();

const messageSchema = z.looseObject({
  type: z.enum(EVENT_TYPES, { error: (issue) => `unknown type ${JSON.stringify(issue.input)}: expected one of ${EVENT_TYPES.join(', ')}` }),
  messageId: z
    .string({ error: 'must be a string' })
    .min(1, 'must not be empty')
    .max(MAX_MESSAGE_ID_LENGTH, `must be at most ${MAX_MESSAGE_ID_LENGTH} characters`)
    .nullish(),
  userId: id,
  anonymousId: id,
  previousId: id,
  groupId: id,
  event: z.unknown().optional(),
  traits: object,
  timestamp: time,
  originalTimestamp: time,
  sentAt: time,
});

export type MessageCheck = { ok: true; event: IncomingEvent } | { ok: false; reason: string; messageId?: string; tooLarge?: true };

/**
 * Segment's skew correction: a timestamp the client set explicitly is kept (imports of history);
 * otherwise `receivedAt - (sentAt - originalTimestamp)` moves the client's clock onto ours.
 */
export function eventTime(
  message: { timestamp?: string | null; originalTimestamp?: string | null; sentAt?: string | null },
  batchSentAt: string | undefined,
  receivedAt: Date,
): string {
  if (message.timestamp) return new Date(message.timestamp).toISOString();
  const sentAt = message.sentAt ?? batchSentAt;
  if (message.originalTimestamp && sentAt) {
    return new Date(receivedAt.getTime() - (Date.parse(sentAt) - Date.parse(message.originalTimestamp))).toISOString();
  }
  if (message.originalTimestamp) return new Date(message.originalTimestamp).toISOString();
  return receivedAt.toISOString();
}

/** What a type needs beyond the common fields; undefined when the message has it. */
function missingFor(type: EventType, message: z.infer<typeof messageSchema>): string | undefined {
  if (type === 'alias') {
    if (!message.userId) return 'alias needs userId (the new id)';
    if (!message.previousId) return 'alias needs previousId (the earlier id to link to userId)';
    return undefined;
  }
  if (!message.userId && !message.anonymousId) return `${type} needs userId or anonymousId: a message must say who it is about`;
  if (type === 'track' && (typeof message.event !== 'string' || message.event === '')) return 'track needs event: the event name, a non-empty string';
  if (type === 'group' && !message.groupId) return 'group needs groupId';
  return undefined;
}

/**
 * Checks one message. `type` comes from the endpoint (/v1/track…) or, in a batch, from the message.
 * `batchSentAt` is the request's sentAt, for messages that carry none.
 */
export function checkMessage(raw: unknown, context: { type?: EventType; batchSentAt?: string; receivedAt: Date }): MessageCheck {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return { ok: false, reason: 'a message must be a JSON object' };
  const { writeKey: _writeKey, ...message } = raw as Record<string, unknown>;
  if (context.type) message.type = context.type;
  const messageId = typeof message.messageId === 'string' ? message.messageId : undefined;

  const body = JSON.stringify(message);
  const size = Buffer.byteLength(body);
  if (size > MAX_MESSAGE_BYTES) {
    return { ok: false, messageId, tooLarge: true, reason: `the message is ${size} bytes: at most ${MAX_MESSAGE_BYTES} (32 KB) per message` };
  }

  const parsed = messageSchema.safeParse(message);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue.path.join('.');
    const text = issue.message.replace(/^Invalid input: /, '');
    return { ok: false, messageId, reason: field === 'type' ? text : `${field}: ${text}` };
  }
  const fields = parsed.data;
  const missing = missingFor(fields.type, fields);
  if (missing) return { ok: false, messageId, reason: missing };

  const type = fields.type;
  return {
    ok: true,
    event: {
      // A message without an id cannot be deduplicated; it still gets one, so the store has a key.
      messageId: fields.messageId ?? `backflow-${randomUUID()}`,
      type,
      userId: fields.userId,
      anonymousId: fields.anonymousId,
      event: type === 'track' ? (fields.event as string) : null,
      traits: type === 'identify' || type === 'group' ? (fields.traits ?? null) : null,
      groupId: type === 'group' ? fields.groupId : null,
      previousId: type === 'alias' ? fields.previousId : null,
      timestamp: eventTime(fields, context.batchSentAt, context.receivedAt),
      receivedAt: context.receivedAt.toISOString(),
      body,
    },
  };
}
