// "Never more than R requests a second", asserted as the product promises it (src/delivery/rate-limiter.ts):
// the destination's limiter gives no turn before the previous request has left, and spaces the turns
// so that any R+1 departures span at least 1,044 ms, which leaves every one-second window at the
// vendor with at most R as long as a request takes no more than 40 ms from its departure to the
// vendor. A loaded machine can delay one longer than that (the emulator shares the test's event
// loop); the product does not promise otherwise, so the test checks the departures where the promise
// is made, and checks that every request the vendor saw left through the limiter.
import { expect } from 'vitest';
import type { Pacer } from '../../src/delivery/rate-limiter.js';

/** The span the limiter promises for any R+1 consecutive departures (R x interval x 1.05 - 6 ms). */
export const PROMISED_SPAN_MS = 1044;
/** The transit from a request's departure to the vendor that the limiter's 5% margin absorbs. */
export const ABSORBED_TRANSIT_MS = 40;

/** When the limiter gave each turn, and when each request left, in order. */
export interface Pacing {
  releases: number[];
  departures: number[];
}

/** Records the limiter's turns and departures from now on. */
export function recordPacing(limiter: Pacer): Pacing {
  const pacing: Pacing = { releases: [], departures: [] };
  limiter.onRelease = (at) => pacing.releases.push(at);
  limiter.onDeparture = (at) => pacing.departures.push(at);
  return pacing;
}

/** The shortest time any `count + 1` consecutive times span (Infinity when there are not that many). */
export function shortestSpan(times: number[], count: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let shortest = Infinity;
  for (let index = 0; index + count < sorted.length; index++) shortest = Math.min(shortest, sorted[index + count] - sorted[index]);
  return shortest;
}

/**
 * Asserts the pacing of one destination: R+1 departures (and turns) span the promise, the vendor
 * received exactly the requests that departed and none before its turn, and any second at the vendor
 * holding more than R requests is explained by a request that took longer from its departure to the
 * vendor than the margin absorbs.
 */
export function expectPaced(pacing: Pacing, arrivals: number[], requestsPerSecond: number): void {
  const { releases, departures } = pacing;
  expect(departures.length, 'requests that left').toBe(arrivals.length);
  expect(releases.length, 'turns the limiter gave').toBe(arrivals.length);
  expect(shortestSpan(departures, requestsPerSecond), `the shortest span of ${requestsPerSecond + 1} departures (ms)`).toBeGreaterThanOrEqual(PROMISED_SPAN_MS);
  expect(shortestSpan(releases, requestsPerSecond), `the shortest span of ${requestsPerSecond + 1} turns (ms)`).toBeGreaterThanOrEqual(PROMISED_SPAN_MS);

  // The k-th arrival is never before the k-th turn: no request reached the vendor without its turn.
  const given = [...releases].sort((a, b) => a - b);
  const left = [...departures].sort((a, b) => a - b);
  const came = [...arrivals].sort((a, b) => a - b);
  const early = came.filter((at, index) => at < given[index]);
  expect(early, 'requests that reached the vendor before the limiter let them go').toEqual([]);

  // A second at the vendor with more than R requests: the first of them came late, beyond the margin.
  const unexplained: string[] = [];
  for (let index = 0; index + requestsPerSecond < came.length; index++) {
    const span = came[index + requestsPerSecond] - came[index];
    const transit = came[index] - left[index];
    if (span < 1000 && transit <= ABSORBED_TRANSIT_MS) unexplained.push(`requests ${index + 1}–${index + requestsPerSecond + 1} within ${span} ms`);
  }
  expect(unexplained, `seconds at the vendor with more than ${requestsPerSecond} requests, not explained by a late request`).toEqual([]);
}
