// Sends records to one destination: the single HTTP client setup, retry policy and pacing in Backflow.
// got does the retrying and timeouts; the connector's `interpret` decides what each answer means.
// A connector with a vendor client (createSender) sends through that client instead, behind the same
// concurrency gate and rate limiter, and its outcomes are settled the same way.
import type { ClientRequest } from 'node:http';
import got, { HTTPError, RequestError, type Got, type Response } from 'got';
import {
  isClientConnector,
  type ClientConnector,
  type Connector,
  type BatchOutcome,
  type HttpConnector,
  type JobState,
  type HttpRequest,
  type HttpResponse,
  type Outcome,
  type Sender,
  type SendContext,
  type SenderOptions,
} from '../../connectors/contract.js';
import type { DestinationConfig } from '../config/schema.js';
import { batchingOf, connectorSettings, type Batching } from './batches.js';
import { LockLostError } from '../fleet/lock-lost.js';
import { Gate, type Slots } from './gate.js';
import { pauseFromHeaders, RateLimiter, type Pacer, type Turn } from './rate-limiter.js';

/**
 * What happened to one record, after every retry got (or the vendor client) made. `status` is null
 * when no HTTP answer is known (a connection error, or a client that does not say).
 */
export type SendResult =
  | { kind: 'sent'; status: number | null; attempts: number }
  | { kind: 'rejected'; status: number | null; reason: string; attempts: number }
  | { kind: 'failed'; status: number | null; reason: string; attempts: number }
  | { kind: 'stop'; status: number | null; reason: string; attempts: number }
  /** Taken by the vendor as a background job: confirmed (or not) once the job says so. */
  | { kind: 'pending'; status: number | null; jobId: string; attempts: number }
  /** Never attempted: the run stopped while the record waited for a free slot. */
  | { kind: 'skipped' };

/** Counters the daemon's metrics and the logs read. */
export interface DeliveryObserver {
  response?(destination: string, status: number): void;
  /** A request is about to be retried; `context` names the sync and the record. */
  retry?(destination: string, reason: string, context: SendContext): void;
  /** A request waited `ms` on the rate limiter (the configured rate or the vendor's headers). */
  rateLimitWait?(destination: string, ms: number): void;
}

/** Budgets a fleet shares (src/fleet/budgets.ts): a destination's pacer and concurrency slots for every member. */
export interface SharedBudgets {
  budgetFor(destination: string, requestsPerSecond: number, concurrency: number): { limiter: Pacer; gate: Slots };
}

export interface DestinationOptions {
  name: string;
  connector: Connector;
  config: DestinationConfig;
  observer?: DeliveryObserver;
  /** In fleet mode: the rate limit and concurrency are the fleet's, not this process's alone. */
  fleet?: SharedBudgets;
}

/** Connection-level errors worth another attempt (alerts use the same list). */
export const RETRY_ERROR_CODES = [
  'ETIMEDOUT',
  'ECONNRESET',
  'EADDRINUSE',
  'ECONNREFUSED',
  'EPIPE',
  'ENOTFOUND',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ERR_GOT_REQUEST_ERROR',
];

const attemptsText = (attempts: number) => `${attempts} attempt${attempts === 1 ? '' : 's'}`;

/** One record handed to a batch: its element of the request and what the engine knows of it. */
export interface BatchEntry {
  item: unknown;
  context: SendContext;
}

/** How a request's answer reads; a batch request carries its own (got's retry asks it too). */
type Interpret<Reading = BatchOutcome | JobState> = (response: HttpResponse) => Reading;

/** What one HTTP request came to: the answer read, or no answer at all. */
type Posted<Reading> = { outcome: Reading; status: number; attempts: number } | { error: string; attempts: number };

function toHttpResponse(response: Response<string>): HttpResponse {
  let body: unknown = response.body ?? '';
  if (typeof body === 'string' && body.length > 0) {
    try {
      body = JSON.parse(body);
    } catch {
      // Not JSON: keep the text; the connector decides whether that is acceptable.
    }
  }
  return { status: response.statusCode, headers: response.headers, body };
}

export class Destination {
  readonly limiter: Pacer;
  readonly gate: Slots;
  /** The got client of an HTTP connector (undefined for a client connector). */
  private readonly client?: Got;
  /** The vendor client of a client connector, created on first use and dropped by close(). */
  private sender?: Sender<unknown>;
  private readonly settings: Record<string, unknown>;
  /** The batch endpoint in use (null: one record per request). */
  readonly batching: Batching | null;

  constructor(private readonly options: DestinationOptions) {
    const { connector, config } = options;
    const requestsPerSecond = config.rateLimit?.requestsPerSecond ?? connector.defaults.requestsPerSecond;
    const concurrency = config.concurrency ?? connector.defaults.concurrency;
    const shared = options.fleet?.budgetFor(options.name, requestsPerSecond, concurrency);
    this.limiter = shared?.limiter ?? new RateLimiter(requestsPerSecond);
    this.gate = shared?.gate ?? new Gate(concurrency);
    this.settings = connectorSettings(connector, config);
    this.batching = batchingOf(connector, config, this.settings);
    if (!isClientConnector(connector)) this.client = this.httpClient(connector);
  }

  private httpClient(connector: HttpConnector): Got {
    const { config } = this.options;
    const maxDelayMs = config.retry.maxDelaySeconds * 1000;

    return got.extend({
      timeout: { request: config.timeoutSeconds * 1000 },
      responseType: 'text',
      throwHttpErrors: true,
      followRedirect: false,
      headers: { 'user-agent': 'backflow/0.1 (+reverse-etl)' },
      retry: {
        limit: config.retry.attempts,
        methods: ['GET', 'POST', 'PUT', 'PATCH'],
        // Every error status reaches calculateDelay; the connector's interpret says which are passing.
        statusCodes: Array.from({ length: 200 }, (_, index) => 400 + index),
        errorCodes: RETRY_ERROR_CODES,
        maxRetryAfter: maxDelayMs,
        calculateDelay: ({ attemptCount, error, computedValue }) => {
          if (computedValue === 0) return 0; // got says no: attempts used up, or Retry-After too long
          if (error.cause instanceof LockLostError) return 0; // another member runs the sync now: never again
          const response = error.response as Response<string> | undefined;
          if (response) {
            const interpret = (error.options.context.interpret as Interpret | undefined) ?? connector.interpret;
            const outcome = interpret(toHttpResponse(response));
            // Only a passing failure of the whole request is worth sending it again.
            if (Array.isArray(outcome) || outcome.kind !== 'retry') return 0;
            const vendorPause = outcome.afterMs ?? pauseFromHeaders(response.headers);
            if (vendorPause > 0) return vendorPause <= maxDelayMs ? vendorPause : 0;
          }
          // Exponential backoff with full jitter in its upper half, capped.
          const exponential = config.retry.baseDelayMs * 2 ** (attemptCount - 1);
          return Math.min(maxDelayMs, exponential * (0.5 + Math.random() / 2));
        },
      },
      hooks: {
        // The rate limiter's turn is taken per attempt in post(), which sees the request depart.
        afterResponse: [
          (response) => {
            this.observeResponse(response.statusCode, response.headers);
            return response;
          },
        ],
      },
    });
  }

  get name(): string {
    return this.options.name;
  }

  get concurrency(): number {
    return this.gate.limit;
  }

  /**
   * Sends one payload (waiting for a free slot and the rate limiter) and says what became of it.
   * Once `signal` is aborted, a payload still waiting for a slot is skipped, never sent.
   */
  async send(payload: unknown, context: SendContext, signal?: AbortSignal): Promise<SendResult> {
    const { connector } = this.options;
    await this.gate.enter();
    try {
      if (signal?.aborted) return { kind: 'skipped' };
      return isClientConnector(connector) ? await this.sendThroughClient(connector, payload, context) : await this.sendOverHttp(connector, payload, context);
    } finally {
      this.gate.leave();
    }
  }

  /**
   * Releases a vendor client after sending what it still holds. New sends get a fresh client, so
   * this is safe while another sync uses the destination: its records already handed to the old
   * client are flushed and answered by this close.
   */
  async close(): Promise<void> {
    const sender = this.sender;
    this.sender = undefined;
    await sender?.close();
  }

  private async sendOverHttp(connector: HttpConnector, payload: unknown, context: SendContext): Promise<SendResult> {
    const posted = await this.post(connector.request(this.settings, payload, context), connector.interpret, context);
    if ('error' in posted) return { kind: 'failed', status: null, reason: posted.error, attempts: posted.attempts };
    // interpret of one record always gives one outcome.
    return this.settle(posted.outcome, posted.status, posted.attempts);
  }

  /**
   * Sends one batch request (waiting for a free slot: one slot and one rate-limiter turn per request)
   * and says what became of each record, in order. A batch the vendor refuses as a whole is split in
   * halves, down to single records, so only the records it refuses end rejected.
   */
  async sendBatch(entries: BatchEntry[], signal?: AbortSignal): Promise<SendResult[]> {
    const batching = this.batching;
    if (!batching) throw new Error(`destination "${this.name}" does not batch: send records one by one`);
    await this.gate.enter();
    let posted: Posted<BatchOutcome>;
    try {
      if (signal?.aborted) return entries.map(() => ({ kind: 'skipped' }));
      const request = batching.shape.request(
        batching.settings,
        entries.map((entry) => entry.item),
      );
      // The batch's own reading of a 429 or 5xx decides got's retries.
      posted = await this.post(request, (response) => batching.shape.interpret(response, entries.length), batchContext(entries));
    } finally {
      this.gate.leave();
    }
    if ('error' in posted) return entries.map(() => ({ kind: 'failed', status: null, reason: posted.error, attempts: posted.attempts }));
    const { outcome, status, attempts } = posted;
    if (Array.isArray(outcome)) {
      if (outcome.length !== entries.length) {
        const reason = `HTTP ${status}: the answer holds ${outcome.length} results for a batch of ${entries.length}: no record of it is confirmed`;
        return entries.map(() => ({ kind: 'failed', status, reason, attempts }));
      }
      return outcome.map((each) => this.settle(each, status, attempts));
    }
    if ('kind' in outcome && outcome.kind === 'job') return entries.map(() => ({ kind: 'pending', status, jobId: outcome.jobId, attempts }));
    if (outcome.kind === 'rejected' && entries.length > 1) {
      const half = Math.ceil(entries.length / 2);
      const [first, second] = await Promise.all([this.sendBatch(entries.slice(0, half), signal), this.sendBatch(entries.slice(half), signal)]);
      return [...first, ...second];
    }
    return entries.map(() => this.settle(outcome, status, attempts));
  }

  /**
   * Reads a background job's status: one request, through the same gate, rate limiter and retries
   * as the batches. No answer at all leaves the job running: its records stay pending.
   */
  async pollJob(jobId: string, context: SendContext): Promise<JobState> {
    const job = this.batching?.shape.job;
    if (!job) throw new Error(`destination "${this.name}" has no background jobs to read`);
    await this.gate.enter();
    try {
      const posted = await this.post(job.request(this.batching.settings, jobId), (response) => job.interpret(response), context);
      return 'error' in posted ? { kind: 'running', status: `unknown (${posted.error})` } : posted.outcome;
    } finally {
      this.gate.leave();
    }
  }

  /**
   * One HTTP request through got (rate limiter, retries), read by `interpret`. Each attempt takes a
   * rate-limiter turn once got has serialized the body, right before the request is made, and ends
   * it when the request has left: its last byte handed to the operating system ('finish'), or the
   * request closed or failed first. The next turn is spaced from there, so a request that leaves
   * late (a connection still to open, an event loop busy building the next batch) never arrives at
   * the vendor together with the one after it.
   */
  private async post<Reading>(request: HttpRequest, interpret: Interpret<Reading>, context: SendContext): Promise<Posted<Reading>> {
    const { name, observer } = this.options;
    let attempts = 0;
    let turn: Turn | undefined;
    try {
      const call = this.client!(request.url, {
        method: request.method,
        headers: request.headers,
        json: request.json,
        context: { interpret },
        hooks: {
          beforeRequest: [
            async () => {
              // A retry: the attempt before ended without a request of its own (or it has ended already).
              turn?.departed();
              turn = await this.limiter.take(context.fence);
              attempts++;
              if (turn.waited > 0) observer?.rateLimitWait?.(name, turn.waited);
            },
          ],
          beforeRetry: [
            (error) => {
              this.options.observer?.retry?.(this.name, error.response ? `HTTP ${error.response.statusCode}` : (error.code ?? error.message), context);
            },
          ],
        },
      });
      // Emitted for each attempt, right after that attempt's beforeRequest hook: the turn is its own.
      void call.on('request', (clientRequest: ClientRequest) => {
        const attempt = turn!;
        clientRequest.once('finish', () => attempt.departed());
        clientRequest.once('close', () => attempt.departed());
      });
      const response = await call;
      return { outcome: interpret(toHttpResponse(response)), status: response.statusCode, attempts };
    } catch (error) {
      // The fleet's budget refused the turn: the run lost its lock, and must stop, not count a failure.
      if (error instanceof RequestError && error.cause instanceof LockLostError) throw error.cause;
      if (error instanceof HTTPError) {
        const response = error.response as Response<string>;
        return { outcome: interpret(toHttpResponse(response)), status: response.statusCode, attempts };
      }
      if (error instanceof RequestError) return { error: `${error.code ?? 'request error'}: ${error.message} (after ${attemptsText(attempts)})`, attempts };
      throw error;
    } finally {
      // Whatever happened, the last turn is over: the callers after it must not wait for it.
      turn?.departed();
    }
  }

  /** The rate limiter paces records here (one per call): the client's batching is its own business. */
  private async sendThroughClient(connector: ClientConnector, payload: unknown, context: SendContext): Promise<SendResult> {
    // The client sends when it will (it batches on its own): the turn ends as the record is handed over.
    (await this.limiter.take(context.fence)).departed();
    this.sender ??= connector.createSender(this.settings, this.senderOptions());
    const outcome = await this.sender.send(payload, context);
    // The client retried by itself: a `retry` that comes back is final for this run. It does not say
    // how many attempts a call took, so attempts counts our one hand-over.
    return outcome.kind === 'retry'
      ? { kind: 'failed', status: outcome.status ?? null, reason: outcome.reason, attempts: 1 }
      : this.settle(outcome, outcome.status ?? null, 1);
  }

  private senderOptions(): SenderOptions {
    const { config } = this.options;
    return {
      concurrency: this.gate.limit,
      timeoutMs: config.timeoutSeconds * 1000,
      retry: { attempts: config.retry.attempts, maxDelayMs: config.retry.maxDelaySeconds * 1000 },
      onResponse: (status, headers) => this.observeResponse(status, headers),
    };
  }

  /** Every answer, whichever path it came by: counted, and its rate-limit headers pause everyone. */
  private observeResponse(status: number, headers: HttpResponse['headers']): void {
    this.options.observer?.response?.(this.options.name, status);
    const pause = pauseFromHeaders(headers);
    if (pause > 0) this.limiter.pauseUntil(Date.now() + Math.min(pause, this.options.config.retry.maxDelaySeconds * 1000));
  }

  private settle(outcome: Outcome, status: number | null, attempts: number): SendResult {
    switch (outcome.kind) {
      case 'sent':
        return { kind: 'sent', status, attempts };
      case 'rejected':
        return { kind: 'rejected', status, reason: outcome.reason, attempts };
      case 'stop':
        return { kind: 'stop', status, reason: outcome.reason, attempts };
      case 'retry':
        // Still passing after every retry (or a 2xx we cannot trust): not confirmed, due next run.
        return { kind: 'failed', status, reason: `${outcome.reason} (gave up after ${attemptsText(attempts)})`, attempts };
    }
  }
}

/** What logs say of a batch request being retried: its first record's context, keyed as the batch. */
function batchContext(entries: BatchEntry[]): SendContext {
  const [first] = entries;
  return entries.length === 1 ? first.context : { ...first.context, key: `${first.context.key} and ${entries.length - 1} more (one batch)` };
}
