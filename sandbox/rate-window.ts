// A vendor-side request quota for emulators: a fixed window aligned to the clock (as quotas with a
// unix-seconds reset are), counting requests and saying when the window ends.

export class RateWindow {
  private windowStart = 0;
  private used = 0;

  constructor(
    readonly limit: number,
    readonly windowMs = 60_000,
  ) {}

  /** Counts one request; `allowed` is false once the window's quota is spent. */
  take(now = Date.now()): { allowed: boolean; remaining: number; resetAtMs: number } {
    const start = now - (now % this.windowMs);
    if (start !== this.windowStart) {
      this.windowStart = start;
      this.used = 0;
    }
    this.used++;
    const resetAtMs = start + this.windowMs;
    return { allowed: this.used <= this.limit, remaining: Math.max(0, this.limit - this.used), resetAtMs };
  }
}

/**
 * A vendor's hard limit over a sliding window: a request is refused (429) when the `windowMs` before
 * it already accepted `limit` requests, wherever the window falls (no boundary to burst across).
 */
export class SlidingWindow {
  private readonly accepted: number[] = [];

  constructor(
    readonly limit: number,
    readonly windowMs = 1000,
  ) {}

  /** Counts one request arriving at `now` if the window has room; false when it is refused. */
  take(now = Date.now()): boolean {
    while (this.accepted.length > 0 && this.accepted[0] <= now - this.windowMs) this.accepted.shift();
    if (this.accepted.length >= this.limit) return false;
    this.accepted.push(now);
    return true;
  }
}
