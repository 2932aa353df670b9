// A destination's concurrency shared by every member of a fleet: at most `limit` requests in flight
// across all of them. Slot i of a destination is the session-level advisory lock
// (hash of schema and destination, i) on the member's budget connection.
//
// Why advisory locks and not leases in a table: PostgreSQL releases a session's advisory locks the
// moment its connection ends, so a member killed with SIGKILL gives its slots back at once (its
// socket is closed by the kernel), and a host that vanishes gives them back once TCP keepalive gives
// up on it (budgets.ts sets about 25 s). There is no lease per slot to renew during a long request:
// the session's heartbeat (one statement every 5 s) keeps all of a member's slots at once. A member
// paused (SIGSTOP) keeps its slots until the server ends its idle session (budgets.ts: 15 s without
// a heartbeat); then the others get them, and the paused member, resumed, is refused any more.
//
// Cost: a slot, once taken, is kept by the member for up to TENURE_MS (200 ms) and handed from one
// of its requests to the next without a statement; then it goes back to the fleet (one unlock), so the
// members share the slots in turns. A member that finds none free tries again every few ms.
import type { Slots } from '../delivery/gate.js';
import type { Queryable, Statement } from './session.js';

/** How long a member keeps a slot before giving it back to the fleet (statements per request vs fairness). */
const TENURE_MS = 200;
/** How soon a member without a free slot tries again: from the first to the last, doubling, with jitter. */
const RETRY_MS = [5, 25] as const;
/** How long a member that just gave a slot back waits before asking for one again. */
const YIELD_MS = 3;

// Takes up to $3 free slots in one statement, skipping those this session holds already
// (pg_try_advisory_lock is re-entrant: it would take them twice). CASE keeps the order of evaluation.
const ACQUIRE: Statement = {
  name: 'backflow_fleet_slots_acquire',
  text: `select slot from generate_series(0, $2::int - 1) as slot
  where case when slot = any($4::int[]) then false else pg_try_advisory_lock(hashtext('backflow rate slot ' || current_schema() || '/' || $1), slot) end
  limit $3`,
};
const RELEASE: Statement = {
  name: 'backflow_fleet_slots_release',
  text: `select pg_advisory_unlock(hashtext('backflow rate slot ' || current_schema() || '/' || $1), $2::int)`,
};

interface Held {
  slot: number;
  /** When its tenure ends (ms): about TENURE_MS after the fleet gave it, spread so that slots taken together do not all go back at once. */
  until: number;
  busy: boolean;
}

export class FleetSlots implements Slots {
  private readonly held: Held[] = [];
  private readonly waiting: { resolve: () => void; reject: (error: Error) => void }[] = [];
  private acquiring = false;
  private retry?: NodeJS.Timeout;
  private retryMs: number = RETRY_MS[0];
  private sweep?: NodeJS.Timeout;
  private failure?: Error;
  /** Called when the fleet had no free slot for a waiting caller (tests wait for it). */
  onBusy?: () => void;

  /** `session` must be one connection: advisory locks belong to the session that took them. */
  constructor(
    private readonly session: Queryable,
    readonly destination: string,
    readonly limit: number,
  ) {}

  /** Slots this member holds (in use or kept for its next requests). */
  get holding(): number {
    return this.held.length;
  }

  get inUse(): number {
    return this.held.filter((held) => held.busy).length;
  }

  enter(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const entered = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.pump();
    return entered;
  }

  leave(): void {
    // Any busy slot will do: free the one whose tenure ends first.
    const busy = this.held.filter((held) => held.busy).sort((a, b) => a.until - b.until)[0];
    if (!busy) return;
    busy.busy = false;
    this.pump();
    this.sweepLater();
  }

  /** Gives every slot back (any request still in flight stops being counted). */
  async close(): Promise<void> {
    clearTimeout(this.retry);
    clearTimeout(this.sweep);
    for (const waiter of this.waiting.splice(0)) waiter.reject(new Error(`destination "${this.destination}": the fleet's slots were closed`));
    await Promise.allSettled(this.held.splice(0).map((held) => this.session.run(RELEASE, [this.destination, held.slot])));
  }

  /**
   * Gives back the free slots whose tenure ended, hands the others to waiting callers, then asks the
   * fleet for more if some still wait.
   */
  private pump(): void {
    const now = Date.now();
    let gaveBack = false;
    for (const held of [...this.held]) {
      if (held.busy) continue;
      if (now >= held.until) {
        this.giveBack(held);
        gaveBack = true;
      } else if (this.waiting.length > 0) {
        held.busy = true;
        this.waiting.shift()!.resolve();
      }
    }
    if (this.waiting.length === 0 || this.acquiring || this.retry) return;
    // Another member may be waiting for the slots just given back: ask again a few ms later, not at
    // once, which leaves it a chance at them while costing this member little.
    if (gaveBack) return this.retryLater(YIELD_MS);
    const wanted = Math.min(this.waiting.length, this.limit - this.held.length);
    if (wanted <= 0) return; // all `limit` slots are ours and busy: one comes back with leave()
    this.acquiring = true;
    const mine = this.held.map((held) => held.slot);
    this.session.run(ACQUIRE, [this.destination, this.limit, wanted, mine]).then(
      (rows) => {
        this.acquiring = false;
        const now = Date.now();
        for (const { slot } of rows as { slot: number }[]) this.held.push({ slot, until: now + TENURE_MS * (0.5 + Math.random()), busy: false });
        if (rows.length > 0) this.retryMs = RETRY_MS[0];
        if (rows.length < wanted) this.onBusy?.();
        this.pump();
        if (this.waiting.length > 0 && rows.length < wanted) this.retryLater();
      },
      (error: unknown) => this.fail(error),
    );
  }

  private retryLater(after?: number): void {
    if (this.retry) return;
    const delay = (after ?? this.retryMs) * (0.5 + Math.random());
    if (after === undefined) this.retryMs = Math.min(RETRY_MS[1], this.retryMs * 2);
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.pump();
    }, delay);
  }

  /** Kept slots nobody uses go back to the fleet at the end of their tenure. */
  private sweepLater(): void {
    if (this.sweep) return;
    this.sweep = setTimeout(() => {
      this.sweep = undefined;
      this.pump();
      if (this.held.some((held) => !held.busy)) this.sweepLater();
    }, TENURE_MS / 2);
    this.sweep.unref();
  }

  private giveBack(held: Held): void {
    this.held.splice(this.held.indexOf(held), 1);
    this.session.run(RELEASE, [this.destination, held.slot]).then(
      () => undefined,
      (error: unknown) => this.fail(error),
    );
  }

  /** The session is gone, and with it every slot: nobody may enter on this member any more. */
  private fail(error: unknown): void {
    this.acquiring = false;
    this.failure ??= new Error(`destination "${this.destination}": the connection holding the fleet's concurrency slots failed: ${(error as Error).message}`, {
      cause: error,
    });
    for (const waiter of this.waiting.splice(0)) waiter.reject(this.failure);
  }
}
