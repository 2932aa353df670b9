// A request pacer shared by every sync that uses a destination: requests leave at least
// 1/requestsPerSecond apart (no bursts, so no window of one second ever holds more than the limit),
// and the vendor's own signals (Retry-After, X-RateLimit-*, RateLimit-*) pause it for everyone.
import { setTimeout as sleep } from 'node:timers/promises';

// Leave room for jitter between our departures and the vendor's clock: R+1 requests span at least
// 1.1 s, so a request delayed up to 100 ms on its way (a new connection, a busy machine, a slow
// first answer) still leaves every one-second window at the vendor with at most R requests.
const SAFETY = 1.1;

export class RateLimiter {
  private readonly intervalMs: number;
  private pausedUntil = 0;
  /** When the last request really left: spacing counts from there, so a late timer never bunches requests. */
  private lastDepartureAt = -Infinity;
  /** Callers take turns in arrival order; each waits for the one before it to leave. */
  private queue: Promise<void> = Promise.resolve();
  /** Total time callers spent waiting on the limiter, for metrics. */
  waitedMs = 0;
  waits = 0;

  constructor(readonly requestsPerSecond: number) {
    this.intervalMs = (1000 / requestsPerSecond) * SAFETY;
  }

  /** Resolves when the caller may send one request. */
  async take(): Promise<void> {
    const queuedAt = Date.now();
    const turn = this.queue.then(() => this.departure());
    this.queue = turn;
    await turn;
    const waited = Date.now() - queuedAt;
    if (waited > 0) {
      this.waits++;
      this.waitedMs += waited;
    }
  }

  private async departure(): Promise<void> {
    // Re-checked after every sleep: a pause may begin while we wait.
    for (;;) {
      const at = Math.max(this.lastDepartureAt + this.intervalMs, this.pausedUntil);
      const now = Date.now();
      if (now >= at) {
        this.lastDepartureAt = now;
        return;
      }
      await sleep(at - now);
    }
  }

  /** Holds every caller until `untilMs` (epoch ms). */
  pauseUntil(untilMs: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, untilMs);
  }
}

function firstHeader(headers: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Reads rate-limit headers: how long to hold all requests, in ms, or 0. `*-Reset` is read as epoch
 * seconds when it is that large, else as seconds from now (the IETF RateLimit draft).
 */
export function pauseFromHeaders(headers: Record<string, string | string[] | undefined>, nowMs = Date.now()): number {
  const retryAfter = firstHeader(headers, 'retry-after');
  if (retryAfter !== undefined) {
    const seconds = Number(retryAfter);
    if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
    const date = Date.parse(retryAfter);
    if (!Number.isNaN(date)) return Math.max(0, date - nowMs);
  }
  for (const prefix of ['x-ratelimit-', 'ratelimit-']) {
    const remaining = Number(firstHeader(headers, `${prefix}remaining`));
    const reset = Number(firstHeader(headers, `${prefix}reset`));
    if (firstHeader(headers, `${prefix}remaining`) !== undefined && remaining <= 0 && Number.isFinite(reset)) {
      return Math.max(0, reset > 1e9 ? reset * 1000 - nowMs : reset * 1000);
    }
  }
  return 0;
}
