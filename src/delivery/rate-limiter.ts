// A request pacer shared by every sync that uses a destination: requests leave 1/requestsPerSecond
// apart, give or take a few milliseconds (no bursts, so no one-second window holds more than the limit),
// and the vendor's own signals (Retry-After, X-RateLimit-*, RateLimit-*) pause it for everyone.
//
// A vendor counts a request when it arrives, so the spacing is kept between departures, not between
// turns: a caller takes its turn, sends, and says when the request has left (Turn.departed); the
// next turn is not given before that, and is spaced from the later of the turn and the departure. A
// request that leaves late (a new connection, an event loop busy building the next 10,000-user
// batch) therefore delays the one after it instead of arriving together with it.
import { setTimeout as sleep } from 'node:timers/promises';

// Leave room for jitter between our departures and the vendor's clock: R+1 requests span at least
// 1.044 s (see below), so a request that takes up to 40 ms from its departure to the vendor still
// leaves every one-second window at the vendor with at most R requests, at a cost of 5% of
// throughput.
const SAFETY = 1.05;

// Timers fire a little late (they count whole milliseconds, and a busy event loop adds more). Up to
// this much lateness is absorbed: the next turn is scheduled from this one's, not from the late
// release or departure. Beyond it, spacing restarts from the departure, so a long stall never
// becomes a burst. Worst case R+1 departures span R x interval - LATENESS_ABSORBED_MS - 1 ms = 1.044 s.
const LATENESS_ABSORBED_MS = 5;

/** Where the limiter reads the time and waits: the real clock, or a test's (see rate-limiter.test.ts). */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<unknown>;
}

const systemClock: Clock = { now: () => Date.now(), sleep: (ms) => sleep(ms) };

/** One caller's turn to send one request. */
export interface Turn {
  /** How long the caller waited for this turn (ms). */
  readonly waited: number;
  /**
   * The request has left (its last byte handed to the operating system), or never will (it failed
   * first): the next turn is spaced from now. Every turn must be ended so, or the callers after it
   * wait forever; only the first call counts.
   */
  departed(): void;
}

/** The run's lock a turn is taken under (see SendContext.fence): checked by a fleet's shared budget. */
export interface Fence {
  sync: string;
  token: string;
}

/** What a destination needs of its pacer: this process's RateLimiter, or a fleet's shared budget. */
export interface Pacer {
  readonly requestsPerSecond: number;
  /** The spacing between two requests (ms), the safety margin included. */
  readonly intervalMs: number;
  /** Resolves with the caller's turn to send one request (see Turn); `fence` is for a fleet budget. */
  take(fence?: Fence): Promise<Turn>;
  /** Holds every caller until `untilMs` (epoch ms). */
  pauseUntil(untilMs: number): void;
  /** Called as each caller is given its turn, with that time (epoch ms). */
  onRelease?: (atMs: number) => void;
  /** Called as each request departs, with that time (epoch ms). */
  onDeparture?: (atMs: number) => void;
}

export class RateLimiter implements Pacer {
  readonly intervalMs: number;
  /** The previous caller's slot: its turn, or a few milliseconds before its actual release or departure if that was later. */
  private lastAt = 0;
  private pausedUntil = 0;
  /** Callers wait their turn in order; each turn starts once the previous request has departed. */
  private queue: Promise<void> = Promise.resolve();
  /** Total time callers spent waiting on the limiter, for metrics. */
  waitedMs = 0;
  waits = 0;
  /** Called as each caller is given its turn, with that time (epoch ms). */
  onRelease?: (atMs: number) => void;
  /** Called as each request departs, with that time (epoch ms): the departures whose spacing the limiter promises. */
  onDeparture?: (atMs: number) => void;

  constructor(
    readonly requestsPerSecond: number,
    private readonly clock: Clock = systemClock,
  ) {
    this.intervalMs = (1000 / requestsPerSecond) * SAFETY;
  }

  /**
   * Resolves when the caller may send one request. Spacing is measured from the previous request's
   * slot: its turn, or its release or departure when that came more than a few milliseconds late,
   * so neither a timer that fires late nor a request that leaves late lets the next ones catch up in
   * a burst. The caller must end the turn with `departed()` once the request has left. One process
   * holds no run lock of another, so a fence has nothing to check here.
   */
  take(): Promise<Turn> {
    let left!: () => void;
    const departure = new Promise<void>((resolve) => (left = resolve));
    const turn = this.queue.then(async (): Promise<Turn> => {
      const started = this.clock.now();
      for (;;) {
        const wait = Math.max(this.lastAt + this.intervalMs, this.pausedUntil) - this.clock.now();
        // The clock counts whole milliseconds: a wait under one is rounding, and sleeping it would
        // cost a whole timer tick per request (at 10,000/s and more, requests would queue here).
        if (wait < 1) break;
        await this.clock.sleep(wait);
      }
      const now = this.clock.now();
      // The slot taken: never before its turn (so sub-millisecond spacing adds up instead of
      // vanishing), and at most a few milliseconds before the release (a late timer never lets
      // the next requests catch up in a burst).
      this.lastAt = Math.max(now - LATENESS_ABSORBED_MS, this.lastAt + this.intervalMs);
      this.onRelease?.(now);
      const waited = now - started;
      if (waited > 0) {
        this.waits++;
        this.waitedMs += waited;
      }
      let ended = false;
      return {
        waited,
        departed: () => {
          if (ended) return;
          ended = true;
          const at = this.clock.now();
          // Left late: the slot moves with the departure, as it does with a late release.
          this.lastAt = Math.max(this.lastAt, at - LATENESS_ABSORBED_MS);
          this.onDeparture?.(at);
          left();
        },
      };
    });
    this.queue = turn.then(() => departure);
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
