// A request pacer shared by every sync that uses a destination: requests leave at least
// 1/requestsPerSecond apart (no bursts, so no window of one second ever holds more than the limit),
// and the vendor's own signals (Retry-After, X-RateLimit-*, RateLimit-*) pause it for everyone.
import { setTimeout as sleep } from 'node:timers/promises';

// Leave room for jitter between our departures and the vendor's clock: R+1 requests span at least
// 1.05 s, so a request delayed up to 50 ms on its way (a new connection, a busy machine) still leaves
// every one-second window at the vendor with at most R requests, at a cost of 5% of throughput.
const SAFETY = 1.05;

export class RateLimiter {
  private readonly intervalMs: number;
  /** When the previous caller was actually let through (not when it was scheduled). */
  private lastAt = 0;
  private pausedUntil = 0;
  /** Callers wait their turn in order; each turn starts when the previous one is released. */
  private queue: Promise<void> = Promise.resolve();
  /** Total time callers spent waiting on the limiter, for metrics. */
  waitedMs = 0;
  waits = 0;

  constructor(readonly requestsPerSecond: number) {
    this.intervalMs = (1000 / requestsPerSecond) * SAFETY;
  }

  /**
   * Resolves when the caller may send one request, with the time this caller waited (ms). Spacing is
   * measured from the moment the previous caller was released, so a timer that fires late never
   * lets the next requests catch up in a burst.
   */
  take(): Promise<number> {
    const turn = this.queue.then(async () => {
      const started = Date.now();
      for (;;) {
        const wait = Math.max(this.lastAt + this.intervalMs, this.pausedUntil) - Date.now();
        if (wait <= 0) break;
        await sleep(wait);
      }
      this.lastAt = Date.now();
      const waited = this.lastAt - started;
      if (waited > 0) {
        this.waits++;
        this.waitedMs += waited;
      }
      return waited;
    });
    this.queue = turn.then(() => undefined);
    return turn;
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
