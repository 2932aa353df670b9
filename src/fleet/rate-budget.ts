// A destination's rate limit shared by every member of a fleet: the in-process RateLimiter's
// promise (no one-second window holds more than R requests), kept across processes and hosts by
// spacing reservations in the destination's row of `rate_budgets` (see ddl.ts).
//
// Why spacing (GCRA) and not a counter per second: a fixed window lets R requests through at the
// end of one second and R more at the start of the next, 2R in one sliding second. Here each request
// owns a moment on the server's clock, `interval` after the fleet's previous one (`next_at`, the
// theoretical arrival time), so any R+1 requests of the fleet span R intervals: 1,050 ms with the
// same 5% margin as the local limiter. A member leaves at its moment, give or take a few ms of timer
// and clock uncertainty, which the margin absorbs (as it absorbs the transit to the vendor).
//
// Cost: one short statement (an upsert of one row) reserves a block of consecutive moments. At low
// rates a block is one request (two at 100/s); at high rates it covers about BLOCK_MS, so 1,000 requests/s cost
// about 50 statements/s. A moment not used in time (the caller came late, the run ended, a pause)
// is dropped, never sent late: a late request would crowd the next member's moment.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Fence, Pacer, Turn } from '../delivery/rate-limiter.js';
import { StateError } from '../errors.js';
import { LockLostError } from './lock-lost.js';
import { localNow, type ServerClock } from './server-clock.js';
import type { Queryable, Statement } from './session.js';

/** The same margin as the local limiter (rate-limiter.ts): R+1 requests span 1.05 s, not 1 s. */
const SAFETY = 1.05;
/** A moment whose timer fires up to this late is still used; later, it is dropped (as rate-limiter.ts absorbs 5 ms). */
const LATENESS_ABSORBED_MS = 5;
/** A block of moments covers about this long: few statements at high rates, little budget left unused when a run stops. */
const BLOCK_MS = 20;
const MAX_BLOCK = 64;

// The row is created by the first reservation (no setup step for a destination), and every
// reservation starts at the latest of the fleet's next moment, now, and a pause. Times go out as
// epoch ms (float8): pg's Date parsing would drop the sub-millisecond part.
const RESERVE: Statement = {
  name: 'backflow_fleet_reserve',
  text: `insert into rate_budgets as budget (destination, next_at)
  values ($1, clock_timestamp() + $2 * interval '1 millisecond')
  on conflict (destination) do update
    set next_at = greatest(budget.next_at, clock_timestamp(), budget.paused_until) + $2 * interval '1 millisecond'
  returning extract(epoch from budget.next_at)::float8 * 1000 as next_at, extract(epoch from clock_timestamp())::float8 * 1000 as server_now`,
};

// The same reservation, made only while the run still holds its lock (the row locks(sync, token)):
// a member paused past its lock's expiry and resumed reserves nothing once another member took over.
const RESERVE_FENCED: Statement = {
  name: 'backflow_fleet_reserve_fenced',
  text: `with fence as (select exists (select 1 from locks where sync = $3 and token = $4) as held),
  reserved as (
    insert into rate_budgets as budget (destination, next_at)
      select $1, clock_timestamp() + $2 * interval '1 millisecond' from fence where held
    on conflict (destination) do update
      set next_at = greatest(budget.next_at, clock_timestamp(), budget.paused_until) + $2 * interval '1 millisecond'
    returning budget.next_at
  )
  select (select held from fence) as held, extract(epoch from (select next_at from reserved))::float8 * 1000 as next_at,
    extract(epoch from clock_timestamp())::float8 * 1000 as server_now`,
};

const PAUSE: Statement = {
  name: 'backflow_fleet_pause',
  text: `insert into rate_budgets as budget (destination, paused_until)
  values ($1, clock_timestamp() + $2 * interval '1 millisecond')
  on conflict (destination) do update set paused_until = greatest(budget.paused_until, excluded.paused_until)`,
};

// A request that left late (beyond the absorbed lateness) moves the fleet's next moment to an
// interval after it, as the local limiter spaces the next turn from a late departure.
const LATE_DEPARTURE: Statement = {
  name: 'backflow_fleet_late_departure',
  text: `update rate_budgets set next_at = greatest(next_at, clock_timestamp() + $2 * interval '1 millisecond') where destination = $1`,
};

export class FleetRateBudget implements Pacer {
  readonly intervalMs: number;
  /** Moments reserved in one statement. */
  readonly blockSize: number;
  /** Reserved moments not used yet (local epoch ms, ascending), per fence: a block is only used under the lock it was checked against. */
  private readonly blocks = new Map<string, number[]>();
  /** The reservation on its way, per fence. */
  private readonly refilling = new Map<string, Promise<void>>();
  private lastDeparture = -Infinity;
  /** A pause this member knows of (local ms): its own moments inside it are dropped at once. */
  private pausedUntil = 0;
  private queue: Promise<void> = Promise.resolve();
  /** Writes not awaited by the caller (pauses, late departures); `settled()` awaits them. */
  private writes = new Set<Promise<void>>();
  private writeFailure?: Error;
  /** For metrics and the bench: moments dropped unused, time callers waited. */
  dropped = 0;
  waitedMs = 0;
  waits = 0;
  onRelease?: (atMs: number) => void;
  onDeparture?: (atMs: number) => void;

  constructor(
    private readonly db: Queryable,
    private readonly clock: ServerClock,
    readonly destination: string,
    readonly requestsPerSecond: number,
  ) {
    this.intervalMs = (1000 / requestsPerSecond) * SAFETY;
    this.blockSize = Math.max(1, Math.min(MAX_BLOCK, Math.round(BLOCK_MS / this.intervalMs)));
  }

  /**
   * Resolves when the caller may send one request, at a moment the fleet reserved for it alone.
   * As with the local limiter, the next turn comes only once this one's request has left
   * (`departed()`). With a fence, rejects with LockLostError once the run's lock is gone: a turn
   * goes out at a moment reserved by a statement that found the lock held at most a block and a
   * quarter (about 25 ms, see refillAhead) before, and a member paused (SIGSTOP) and resumed finds
   * its moments passed, so its next turn always checks the lock again.
   */
  take(fence?: Fence): Promise<Turn> {
    let left!: () => void;
    const departure = new Promise<void>((resolve) => (left = resolve));
    const turn = this.queue.then(() => this.nextTurn(fence, left));
    // A refused turn (a lost lock, a lost connection) must not refuse every caller after it.
    this.queue = turn.then(
      () => departure,
      () => undefined,
    );
    return turn;
  }

  private async nextTurn(fence: Fence | undefined, left: () => void): Promise<Turn> {
    if (this.writeFailure) throw this.writeFailure;
    const key = fence ? `${fence.sync}\u0000${fence.token}` : '';
    const started = localNow();
    let moment: number | undefined;
    for (;;) {
      // A pause this member heard of: wait it out before reserving (its write may not be in the row yet).
      const paused = this.pausedUntil - localNow();
      if (paused >= 1) await sleep(Math.ceil(paused));
      moment = this.nextMoment(key);
      if (moment === undefined) {
        await this.refill(key, fence);
        continue;
      }
      this.refillAhead(key, fence);
      // Under a millisecond is rounding (timers count whole ms): sleeping it would cost a tick per request.
      for (let wait = moment - localNow(); wait >= 1; wait = moment - localNow()) await sleep(Math.ceil(wait));
      // Still its moment after the timer (not too late, no pause meanwhile)? Else drop it and take the next.
      if (this.usable(moment, localNow())) break;
      this.dropped++;
    }
    const now = localNow();
    this.onRelease?.(now);
    const waited = now - started;
    if (waited >= 1) {
      this.waits++;
      this.waitedMs += waited;
    }
    let ended = false;
    const slot = moment;
    return {
      waited: Math.round(waited),
      departed: () => {
        if (ended) return;
        ended = true;
        const at = localNow();
        this.lastDeparture = at;
        if (at > slot + LATENESS_ABSORBED_MS) this.write(LATE_DEPARTURE, [this.destination, this.intervalMs]);
        this.onDeparture?.(at);
        left();
      },
    };
  }

  /**
   * A moment may be used at `now` if it has not passed by more than the absorbed lateness, is not in
   * a pause, and comes an interval after this member's last departure (a request that left late).
   */
  private usable(moment: number, now: number): boolean {
    return now <= moment + LATENESS_ABSORBED_MS && moment >= this.pausedUntil && moment >= this.lastDeparture + this.intervalMs - LATENESS_ABSORBED_MS;
  }

  /** The first reserved moment still usable, the ones before it dropped. */
  private nextMoment(key: string): number | undefined {
    const block = this.blocks.get(key);
    if (!block) return undefined;
    const now = localNow();
    while (block.length > 0) {
      const moment = block.shift()!;
      if (this.usable(moment, Math.max(now, moment))) return moment;
      this.dropped++;
    }
    this.blocks.delete(key);
    return undefined;
  }

  /**
   * Reserves the next block of moments (one statement) and adds it to the block of `key`; a
   * reservation already on its way is awaited instead of a second one.
   */
  private refill(key: string, fence: Fence | undefined): Promise<void> {
    let refilling = this.refilling.get(key);
    if (!refilling) {
      refilling = this.reserve(fence).then((moments) => {
        const block = this.blocks.get(key) ?? [];
        block.push(...moments);
        this.blocks.set(key, block);
      });
      this.refilling.set(key, refilling);
      void refilling.then(
        () => this.refilling.delete(key),
        () => this.refilling.delete(key),
      );
    }
    return refilling;
  }

  /**
   * At high rates the next block is reserved while the last quarter of this one is used, so the
   * statement's round trip (a millisecond or more, an interval at 1,000/s) does not leave a gap.
   * Not at low rates: a block of one moment reserved an interval ahead would check the run's lock
   * up to an interval (a second at 1/s) before its turn.
   */
  private refillAhead(key: string, fence: Fence | undefined): void {
    if (this.blockSize < 4 || (this.blocks.get(key)?.length ?? 0) > this.blockSize / 4) return;
    // A refusal (a lost lock) is met by the next turn, which awaits this same reservation.
    this.refill(key, fence).catch(() => undefined);
  }

  /** Reserves a block of consecutive moments (one statement): their local times, ascending. */
  private async reserve(fence: Fence | undefined): Promise<number[]> {
    const span = this.blockSize * this.intervalMs;
    const sentAt = localNow();
    const rows = await this.db
      .run(fence ? RESERVE_FENCED : RESERVE, fence ? [this.destination, span, fence.sync, fence.token] : [this.destination, span])
      .catch((error: unknown) => {
        throw new StateError(
          `destination "${this.destination}": the fleet's rate budget could not be reserved in the state's PostgreSQL (${(error as Error).message}); check that the server is reachable and the state's schema is migrated`,
          { cause: error },
        );
      });
    const receivedAt = localNow();
    const row = rows[0] as { held?: boolean; next_at: number | null; server_now: number };
    if (fence && !row.held) throw new LockLostError(fence.sync);
    this.clock.sample(sentAt, row.server_now, receivedAt);
    const first = row.next_at! - span;
    return Array.from({ length: this.blockSize }, (_, index) => this.clock.toLocal(first + index * this.intervalMs));
  }

  /**
   * Holds every member until `untilMs` (epoch ms): at once here, and for the others through the row,
   * which their next reservation reads (a moment one of them reserved before the pause still goes:
   * at most one block).
   */
  pauseUntil(untilMs: number): void {
    const pauseMs = untilMs - Date.now();
    if (pauseMs <= 0) return;
    this.pausedUntil = Math.max(this.pausedUntil, localNow() + pauseMs);
    this.write(PAUSE, [this.destination, pauseMs]);
  }

  /** Resolves once the pauses and late departures written so far are in the row. */
  async settled(): Promise<void> {
    await Promise.all(this.writes);
    if (this.writeFailure) throw this.writeFailure;
  }

  /** Waits for the writes in progress; the connection belongs to the caller. */
  async close(): Promise<void> {
    await Promise.allSettled(this.writes);
  }

  /** A write the caller does not wait for; a failure refuses the next turn (the connection is likely gone). */
  private write(statement: Statement, values: unknown[]): void {
    const done = this.db.run(statement, values).then(
      () => undefined,
      (error: unknown) => {
        this.writeFailure ??= error instanceof Error ? error : new Error(String(error));
      },
    );
    this.writes.add(done);
    void done.finally(() => this.writes.delete(done));
  }
}
