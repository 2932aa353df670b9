// The connector contract: a connector only describes a vendor API; the engine owns HTTP, retries,
// rate limiting, state and logging. A connector never imports got, never sleeps, never reads env vars.
import { z } from 'zod';

/** What the engine knows about the record being sent, for connectors that need it (e.g. idempotency ids). */
export interface SendContext {
  sync: string;
  /** The record's primary key, as a string. */
  key: string;
  /** Fingerprint of the payload being sent (stable for the same change). */
  fingerprint: string;
  /** When Backflow first saw this version of the record (ISO 8601). */
  changedAt: string;
  /**
   * The run's lock in a fleet state (the sync and the token it holds): the destination's shared rate
   * budget refuses a turn once another member has taken the sync over. Absent outside fleet mode.
   */
  fence?: { sync: string; token: string };
}

/** One HTTP request, described as data (a GET carries no body). */
export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH';
  url: string;
  headers: Record<string, string>;
  json?: unknown;
}

/** The parts of a response a connector needs to understand it. */
export interface HttpResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Parsed JSON when the body was JSON, else the raw text ('' when empty). */
  body: unknown;
}

/**
 * How the engine must treat a response: a small, closed set of outcomes.
 * - sent: the destination accepted the record; its state is committed.
 * - rejected: the destination refused this record (4xx); recorded with the reason, retried next run.
 * - retry: a passing failure (429, 5xx); retried now with backoff, honouring afterMs when given.
 * - stop: the sync cannot succeed until a person acts (bad credentials, blocked account).
 */
export type Outcome =
  { kind: 'sent' } | { kind: 'rejected'; reason: string } | { kind: 'retry'; reason: string; afterMs?: number } | { kind: 'stop'; reason: string };

/**
 * What a batch answer says: one outcome for the whole batch, one per record (in the order sent), or
 * that the vendor took the batch as a background job whose result is read later (`job`): its
 * records are pending, never sent, until the job reports completed.
 */
export type BatchOutcome = Outcome | Outcome[] | { kind: 'job'; jobId: string };

/**
 * What a job's status says. running: ask again later; completed: every record of it is confirmed;
 * failed: none is, all are due again; retry/stop as for any answer.
 */
export type JobState =
  | { kind: 'running'; status: string }
  | { kind: 'completed' }
  | { kind: 'failed'; reason: string }
  | { kind: 'retry'; reason: string; afterMs?: number }
  | { kind: 'stop'; reason: string };

/** How to read a vendor's background job back. */
export interface JobShape<Settings> {
  request(settings: Settings, jobId: string): HttpRequest;
  interpret(response: HttpResponse): JobState;
}

export interface ConnectorDefaults {
  /** Conservative request rate when the config sets none. */
  requestsPerSecond: number;
  concurrency: number;
  /** Suggested mapping from common warehouse column names: used by a sync that has no `mapping`. */
  mapping: Record<string, string>;
}

interface ConnectorBase<Settings extends z.ZodObject, Payload extends z.ZodType> {
  type: string;
  /** One line for docs and `validate`. */
  title: string;
  settings: Settings;
  /** Names of settings that are secrets: redacted everywhere, never stored. */
  secrets: ReadonlyArray<keyof z.infer<Settings> & string>;
  /** Every documented field and constraint; a record that fails it is `invalid` and never sent. */
  payload: Payload;
  defaults: ConnectorDefaults;
  /** The primary key field inside the payload, shown in messages. */
  keyField: string;
}

/**
 * A vendor's batch endpoint, described as data (after action-destinations' `performBatch` with its
 * per-index MultiStatusResponse). The engine groups records up to `maxSize` (and `maxBytes`), sends
 * one request per group, retries it, and settles every record from what `interpret` says.
 */
export interface BatchShape<Settings, Payload> {
  /** The most records one request may carry (the vendor's documented limit). */
  maxSize: number;
  /** The most bytes of JSON one request body may carry, when the vendor documents a limit. */
  maxBytes?: number;
  /** Whether a destination batches when its config does not say (default true); its README says why. */
  byDefault?: boolean;
  /** One record as it goes inside the batch (its element of the array). */
  item(settings: Settings, payload: Payload, context: SendContext): unknown;
  /**
   * The request carrying `items`. Its JSON must hold the items as one array, so the engine can size a
   * batch from the items' own JSON (the envelope measured once, with no items).
   */
  request(settings: Settings, items: unknown[]): HttpRequest;
  /**
   * What the answer means: one outcome for the whole batch, or one per record, in the order sent. A
   * whole-batch `rejected` of several records is split by the engine to find the records refused.
   */
  interpret(response: HttpResponse, size: number): BatchOutcome;
  /** Present when the vendor confirms a batch later, through a background job. */
  job?: JobShape<Settings>;
}

/** A destination the engine reaches over HTTP itself (got): the connector only describes requests. */
export interface HttpConnector<Settings extends z.ZodObject = z.ZodObject, Payload extends z.ZodType = z.ZodType> extends ConnectorBase<Settings, Payload> {
  request(settings: z.infer<Settings>, payload: z.infer<Payload>, context: SendContext): HttpRequest;
  interpret(response: HttpResponse): Outcome;
  /** The vendor's batch endpoint, when it has one: used unless `destinations.<name>.batch` is false. */
  batch?: BatchShape<z.infer<Settings>, z.infer<Payload>>;
}

/** What the engine tells a vendor client so it follows the destination's config. */
export interface SenderOptions {
  /**
   * Records the engine keeps in flight at once (its concurrency gate). A batching client must send a
   * batch at or below this size: a larger one would wait for records the gate holds back.
   */
  concurrency: number;
  /** Time limit for one HTTP attempt (destinations.<name>.timeoutSeconds). */
  timeoutMs: number;
  /** destinations.<name>.retry: the client's own retries follow it. */
  retry: { attempts: number; maxDelayMs: number };
  /** Called with every HTTP answer the client gets, so the engine counts it and honours rate-limit headers. */
  onResponse(status: number, headers: Record<string, string | string[] | undefined>): void;
}

/** An outcome from a vendor client, with the HTTP status when the client tells it. */
export type SenderOutcome = Outcome & { status?: number };

/** A vendor client that owns its HTTP, retries and batching (e.g. @segment/analytics-node). */
export interface Sender<Payload> {
  /**
   * Resolves only once the destination confirmed or refused this record; never rejects. `retry`
   * here means the client already retried and gave up: the record is failed and due next run.
   */
  send(payload: Payload, context: SendContext): Promise<SenderOutcome>;
  /** Sends whatever is still queued, waits for its answers, and releases the client. */
  close(): Promise<void>;
}

/** A destination reached through the vendor's own client: the engine still gates, paces and records. */
export interface ClientConnector<Settings extends z.ZodObject = z.ZodObject, Payload extends z.ZodType = z.ZodType> extends ConnectorBase<Settings, Payload> {
  createSender(settings: z.infer<Settings>, options: SenderOptions): Sender<z.infer<Payload>>;
}

/**
 * A destination. `settings` is the connector-specific part of `destinations.<name>` in the config
 * (type, rateLimit, concurrency, timeouts and retry are common and handled by the engine).
 */
export type Connector<Settings extends z.ZodObject = z.ZodObject, Payload extends z.ZodType = z.ZodType> =
  HttpConnector<Settings, Payload> | ClientConnector<Settings, Payload>;

export function isClientConnector(connector: Connector): connector is ClientConnector {
  return 'createSender' in connector;
}

/** Helper so each connector file gets full type inference without repeating its types. */
export function defineConnector<S extends z.ZodObject, P extends z.ZodType>(connector: HttpConnector<S, P>): HttpConnector<S, P>;
export function defineConnector<S extends z.ZodObject, P extends z.ZodType>(connector: ClientConnector<S, P>): ClientConnector<S, P>;
export function defineConnector(connector: Connector): Connector {
  return connector;
}
