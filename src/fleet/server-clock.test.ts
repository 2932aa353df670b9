// The server clock as a member reads it: the offset from the exchange with the shortest round trip,
// and server moments mapped to local ones never early.
import { describe, expect, it } from 'vitest';
import { ServerClock } from './server-clock.js';

describe('the server clock', () => {
  it('maps a server moment to local time through the offset of the shortest round trip, never early', () => {
    const clock = new ServerClock();
    // The server runs 5,000 ms ahead; a 2 ms round trip, the server read halfway.
    clock.sample(1000, 6001, 1002);
    expect(clock.toLocal(7001)).toBe(2001 + 1);
    // A slower exchange (a stalled event loop: 80 ms) says the server is behind: it is not believed.
    clock.sample(1100, 6101, 1180);
    expect(clock.toLocal(7001)).toBe(2002);
    // A faster one is.
    clock.sample(1200, 6200.5, 1201);
    expect(clock.toLocal(7000.5)).toBe(2000.5 + 0.5);
  });

  it('follows a clock that moved once the best sample has aged', () => {
    const clock = new ServerClock();
    clock.sample(1000, 6001, 1002);
    // 30 s later the host's clock was stepped by 100 ms: a 20 ms exchange beats a 2 ms one that old.
    clock.sample(31_000, 36_110, 31_020);
    expect(clock.toLocal(36_110)).toBe(31_010 + 10);
  });
});
