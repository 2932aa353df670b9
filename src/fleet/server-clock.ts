// The PostgreSQL server's clock, read from this process. Reservations are made in the server's time
// (one clock for the whole fleet, so hosts whose clocks disagree still space their requests from the
// same timeline) and waited for with local timers, through the offset estimated here.

/** This process's clock in epoch ms, with sub-millisecond precision (requests 1 ms apart at 1,000/s). */
export const localNow = (): number => performance.timeOrigin + performance.now();

export class ServerClock {
  /** Server time minus local time (ms), from the exchange with the shortest round trip. */
  private offset = 0;
  private bestRoundTrip = Infinity;
  private bestAt = 0;

  /**
   * One exchange: sent at `sentAt`, the server read its clock as `serverAt`, answered by `receivedAt`
   * (local ms). The server read it somewhere in between, so the estimate is off by at most half the
   * round trip: the shortest round trip seen wins (as NTP's filter does), and a sample grows stale by
   * 1 ms a second so a clock that is stepped or drifts is followed.
   */
  sample(sentAt: number, serverAt: number, receivedAt: number): void {
    const roundTrip = receivedAt - sentAt;
    const staleness = (receivedAt - this.bestAt) / 1000;
    if (roundTrip > this.bestRoundTrip + staleness) return;
    this.offset = serverAt - (sentAt + receivedAt) / 2;
    this.bestRoundTrip = roundTrip;
    this.bestAt = receivedAt;
  }

  /** The local moment (epoch ms) a server moment has certainly come: never early, by the uncertainty. */
  toLocal(serverMs: number): number {
    return serverMs - this.offset + this.bestRoundTrip / 2;
  }
}
