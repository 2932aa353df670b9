// The limiter's spacing, as a property of the departures it lets happen, on a test clock whose timers
// fire as late as the test says (on time, a few ms late, or after a long stall), and whose requests
// leave when the test says (at once, or late after their turn). The promise
// (rate-limiter.ts): R+1 departures span at least R x interval - 5 ms - 1 ms, where the interval is
// 1/R s with a 5% margin: 1,044 ms for any R. So no one-second window ever holds more than R.
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../test/reliability/random.js';
import { pauseFromHeaders, RateLimiter, type Clock } from './rate-limiter.js';

/** The span the limiter promises for any R+1 consecutive departures, in ms. */
const PROMISED_SPAN_MS = 1044;

/** A clock that moves only when the limiter sleeps (or the test says), its timers late by `lateness()`. */
function testClock(lateness: () => number = () => 0) {
  let time = 1_750_000_000_000;
  const sleeps: number[] = [];
  const clock: Clock = {
    now: () => Math.floor(time), // Date.now counts whole milliseconds
    sleep: async (ms) => {
      sleeps.push(ms);
      time += ms + lateness();
    },
  };
  return { clock, sleeps, advance: (ms: number) => void (time += ms), now: () => Math.floor(time) };
}

/**
 * `count` callers queued at once (a destination whose concurrency is never the limit), each request
 * departing as soon as its turn comes: when each left.
 */
async function departures(limiter: RateLimiter, count: number): Promise<number[]> {
  const times: number[] = [];
  limiter.onDeparture = (at) => times.push(at);
  await Promise.all(Array.from({ length: count }, () => limiter.take().then((turn) => turn.departed())));
  return times;
}

/** The shortest time any R+1 consecutive departures span. */
function shortestSpan(times: number[], requestsPerSecond: number): number {
  let shortest = Infinity;
  for (let index = 0; index + requestsPerSecond < times.length; index++) shortest = Math.min(shortest, times[index + requestsPerSecond] - times[index]);
  return shortest;
}

/** The most departures in any one-second window (sliding). */
function mostInOneSecond(times: number[]): number {
  let most = 0;
  for (let start = 0, end = 0; end < times.length; end++) {
    while (times[end] - times[start] >= 1000) start++;
    most = Math.max(most, end - start + 1);
  }
  return most;
}

describe('the rate limiter', () => {
  it.each([1, 10, 20, 500])(
    'at %i per second with on-time timers: departures 1/R s apart plus a 5 percent margin, never more than R in a second',
    async (rate) => {
      const { clock } = testClock();
      const limiter = new RateLimiter(rate, clock);
      const times = await departures(limiter, rate * 3 + 1);

      expect(shortestSpan(times, rate)).toBeGreaterThanOrEqual(PROMISED_SPAN_MS);
      expect(mostInOneSecond(times)).toBeLessThanOrEqual(rate);
      // …and no slower than promised: the whole run takes (N-1) intervals, give or take the clock's millisecond.
      const interval = (1000 / rate) * 1.05;
      expect(times.at(-1)! - times[0]).toBeLessThanOrEqual((times.length - 1) * interval + 1);
    },
  );

  it('absorbs timers up to 5 ms late without losing throughput, and still keeps the span', async () => {
    const random = seededRandom(0x5eed);
    const { clock } = testClock(() => Math.floor(random() * 6)); // 0–5 ms late
    const limiter = new RateLimiter(20, clock);
    const times = await departures(limiter, 201);

    expect(shortestSpan(times, 20)).toBeGreaterThanOrEqual(PROMISED_SPAN_MS);
    // The next turn is scheduled from this one's, not from the late release: lateness does not add up.
    expect(times.at(-1)! - times[0]).toBeLessThanOrEqual(200 * 52.5 + 5 + 1);
  });

  it('never lets a long stall turn into a burst: spacing restarts from the late release', async () => {
    let calls = 0;
    // The 10th timer fires 400 ms late (a busy machine), the others on time.
    const { clock } = testClock(() => (++calls === 10 ? 400 : 0));
    const limiter = new RateLimiter(20, clock);
    const times = await departures(limiter, 61);

    const stall = times.findIndex((time, index) => index > 0 && time - times[index - 1] > 300);
    expect(stall).toBeGreaterThan(0);
    // After the stall the departures do not catch up: each is still about an interval after the last.
    for (let index = stall + 1; index < times.length; index++) expect(times[index] - times[index - 1]).toBeGreaterThanOrEqual(52.5 - 5 - 1);
    expect(shortestSpan(times, 20)).toBeGreaterThanOrEqual(PROMISED_SPAN_MS);
    expect(mostInOneSecond(times)).toBeLessThanOrEqual(20);
  });

  it('keeps the span whatever mix of late timers and stalls the machine throws at it', async () => {
    const random = seededRandom(0xbadc0de);
    // Mostly a few ms late, sometimes 10–200 ms (a loaded machine).
    const { clock } = testClock(() => (random() < 0.1 ? 10 + random() * 190 : random() * 8));
    const limiter = new RateLimiter(20, clock);
    const times = await departures(limiter, 500);

    expect(shortestSpan(times, 20)).toBeGreaterThanOrEqual(PROMISED_SPAN_MS);
    expect(mostInOneSecond(times)).toBeLessThanOrEqual(20);
  });

  it('adds up sub-millisecond spacing instead of letting it vanish (5,000 per second)', async () => {
    const { clock, sleeps } = testClock();
    const limiter = new RateLimiter(5_000, clock);
    const times = await departures(limiter, 10_001);

    // Each caller’s share is 0.21 ms: nobody sleeps for it alone, yet 5,001 departures span the promise.
    expect(shortestSpan(times, 5_000)).toBeGreaterThanOrEqual(PROMISED_SPAN_MS);
    expect(sleeps.every((ms) => ms >= 1)).toBe(true);
    expect(sleeps.length).toBeLessThan(10_001 / 4);
  });

  it('does not make callers wait who come slower than the rate', async () => {
    const { clock, sleeps, advance } = testClock();
    const limiter = new RateLimiter(20, clock);
    for (let index = 0; index < 10; index++) {
      const turn = await limiter.take();
      expect(turn.waited).toBe(0);
      turn.departed();
      advance(100); // the caller's request and answer take longer than an interval
    }
    expect(sleeps).toEqual([]);
    expect({ waits: limiter.waits, waitedMs: limiter.waitedMs }).toEqual({ waits: 0, waitedMs: 0 });
  });

  it('gives no turn before the previous request has left, and spaces it from that departure', async () => {
    const { clock, advance } = testClock();
    const limiter = new RateLimiter(2, clock);
    const left: number[] = [];
    limiter.onDeparture = (at) => left.push(at);
    const first = await limiter.take();
    let secondGiven = false;
    const second = limiter.take().then((turn) => {
      secondGiven = true;
      return turn;
    });
    // The first request is still on its way well past the next turn's due time (a new connection,
    // an event loop busy building the next 10,000-user batch): the second waits for it.
    advance(3 * limiter.intervalMs);
    await new Promise(setImmediate);
    expect(secondGiven).toBe(false);
    first.departed();
    first.departed(); // only the first call counts
    (await second).departed();

    expect(left).toHaveLength(2);
    expect(left[1] - left[0]).toBeGreaterThanOrEqual(limiter.intervalMs - 5 - 1);
  });

  it('keeps the span whatever time the requests take to leave after their turn', async () => {
    const random = seededRandom(0xfeed);
    const { clock, advance } = testClock(() => random() * 3);
    const limiter = new RateLimiter(10, clock);
    const left: number[] = [];
    limiter.onDeparture = (at) => left.push(at);
    await Promise.all(
      Array.from({ length: 300 }, () =>
        limiter.take().then((turn) => {
          // Mostly on its way at once, sometimes held 50–400 ms before its bytes go out.
          advance(random() < 0.2 ? 50 + random() * 350 : random() * 5);
          turn.departed();
        }),
      ),
    );

    expect(shortestSpan(left, 10)).toBeGreaterThanOrEqual(PROMISED_SPAN_MS);
    expect(mostInOneSecond(left)).toBeLessThanOrEqual(10);
  });

  it('holds every caller until a pause ends, then spaces them from there', async () => {
    const { clock, now } = testClock();
    const limiter = new RateLimiter(20, clock);
    (await limiter.take()).departed();
    const until = now() + 3000;
    limiter.pauseUntil(until);
    limiter.pauseUntil(until - 1000); // a shorter pause never shortens a longer one
    const times = await departures(limiter, 21);

    expect(times[0]).toBeGreaterThanOrEqual(until);
    expect(shortestSpan(times, 20)).toBeGreaterThanOrEqual(PROMISED_SPAN_MS);
    // Counted for metrics: every caller waited, the first for the whole pause.
    expect(limiter.waits).toBe(21);
    expect(limiter.waitedMs).toBeGreaterThanOrEqual(3000 + 20 * 52);
  });
});

describe('rate-limit headers (pauseFromHeaders)', () => {
  const now = Date.parse('2026-03-01T12:00:00.000Z');

  it('reads Retry-After as seconds, fractions included', () => {
    expect(pauseFromHeaders({ 'retry-after': '30' }, now)).toBe(30_000);
    expect(pauseFromHeaders({ 'retry-after': '1.5' }, now)).toBe(1500);
    expect(pauseFromHeaders({ 'retry-after': '0' }, now)).toBe(0);
  });

  it('reads Retry-After as an HTTP date, and a date already past as no pause', () => {
    expect(pauseFromHeaders({ 'retry-after': 'Sun, 01 Mar 2026 12:00:45 GMT' }, now)).toBe(45_000);
    expect(pauseFromHeaders({ 'retry-after': 'Sun, 01 Mar 2026 11:59:00 GMT' }, now)).toBe(0);
  });

  it('never pauses backwards for a negative Retry-After', () => {
    expect(pauseFromHeaders({ 'retry-after': '-5' }, now)).toBe(0);
  });

  it('takes the first value of a repeated header', () => {
    expect(pauseFromHeaders({ 'retry-after': ['2', '60'] }, now)).toBe(2000);
  });

  it('falls back to the rate-limit headers when Retry-After is neither seconds nor a date', () => {
    expect(pauseFromHeaders({ 'retry-after': 'soon', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '3' }, now)).toBe(3000);
    expect(pauseFromHeaders({ 'retry-after': 'soon' }, now)).toBe(0);
  });

  it.each(['x-ratelimit-', 'ratelimit-'])('reads %sReset as epoch seconds when that large, else as seconds from now', (prefix) => {
    const epoch = String(now / 1000 + 20);
    expect(pauseFromHeaders({ [`${prefix}remaining`]: '0', [`${prefix}reset`]: epoch }, now)).toBe(20_000);
    expect(pauseFromHeaders({ [`${prefix}remaining`]: '0', [`${prefix}reset`]: '20' }, now)).toBe(20_000);
    // An epoch reset already past: no pause.
    expect(pauseFromHeaders({ [`${prefix}remaining`]: '0', [`${prefix}reset`]: String(now / 1000 - 5) }, now)).toBe(0);
  });

  it('pauses only once the quota is spent, and only with a reset it can read', () => {
    expect(pauseFromHeaders({ 'x-ratelimit-remaining': '3', 'x-ratelimit-reset': '20' }, now)).toBe(0);
    expect(pauseFromHeaders({ 'x-ratelimit-remaining': '0' }, now)).toBe(0);
    expect(pauseFromHeaders({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': 'later' }, now)).toBe(0);
    expect(pauseFromHeaders({ 'x-ratelimit-reset': '20' }, now)).toBe(0);
    expect(pauseFromHeaders({}, now)).toBe(0);
  });

  it('prefers Retry-After over the quota headers, and X-RateLimit-* over RateLimit-*', () => {
    expect(pauseFromHeaders({ 'retry-after': '1', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '20' }, now)).toBe(1000);
    expect(pauseFromHeaders({ 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '7', 'ratelimit-remaining': '0', 'ratelimit-reset': '9' }, now)).toBe(7000);
    // A quota left under X-RateLimit-* does not hide a spent one under RateLimit-*.
    expect(pauseFromHeaders({ 'x-ratelimit-remaining': '5', 'x-ratelimit-reset': '7', 'ratelimit-remaining': '0', 'ratelimit-reset': '9' }, now)).toBe(9000);
  });
});
