// The fleet's shared budgets of one member: per destination, a rate budget and concurrency slots,
// on one connection to the state's PostgreSQL (the slots are advisory locks of that session; the
// reservations are short statements that share it). Destination takes its limiter and gate from here.
import pg from 'pg';
import { schemaConnection, type PgLocation } from '../state/pg/connection.js';
import { endQuietly } from '../state/pg/session.js';
import { FleetRateBudget } from './rate-budget.js';
import { ServerClock } from './server-clock.js';
import { Session } from './session.js';
import { FleetSlots } from './slots.js';

export interface FleetBudget {
  limiter: FleetRateBudget;
  gate: FleetSlots;
}

// A member whose host vanishes without closing its connection (no FIN, no RST) keeps its slots until
// the server notices: 10 s idle, then 3 probes 5 s apart, or 25 s of unacknowledged data.
const KEEPALIVE = 'set tcp_keepalives_idle = 10; set tcp_keepalives_interval = 5; set tcp_keepalives_count = 3; set tcp_user_timeout = 25000';

// A member paused (SIGSTOP) keeps a live connection, so its slots would stay taken for as long as
// it is paused, and the member that takes its syncs over could not send. The server ends a session
// idle for longer than this (idle_session_timeout); a running member never idles that long, as it
// sends a heartbeat every third of it. A paused member resumed finds its session ended: its gate
// refuses (see slots.ts), so it sends no more, beyond the requests it had already been given a slot
// for (at most the concurrency).
const PAUSED_MEMBER_TIMEOUT_MS = 15_000;
const HEARTBEAT = { name: 'backflow_fleet_heartbeat', text: 'select 1' };

export class FleetBudgets {
  private readonly budgets = new Map<string, FleetBudget>();
  private readonly clock = new ServerClock();
  private readonly heartbeat: NodeJS.Timeout;

  private constructor(
    private readonly session: Session,
    pausedMemberTimeoutMs: number,
  ) {
    // A failed heartbeat needs no handling here: the session is gone, and the next budget statement says so.
    this.heartbeat = setInterval(() => void session.run(HEARTBEAT, []).catch(() => undefined), pausedMemberTimeoutMs / 3);
    this.heartbeat.unref();
  }

  /**
   * Connects with `config` (its search_path set to the state's schema, where rate_budgets and locks
   * are). A member paused longer than `pausedMemberTimeoutMs` loses its slots to the others.
   */
  static async open(config: pg.ClientConfig, options: { pausedMemberTimeoutMs?: number } = {}): Promise<FleetBudgets> {
    const timeout = options.pausedMemberTimeoutMs ?? PAUSED_MEMBER_TIMEOUT_MS;
    const session = new pg.Client({ ...config, keepAlive: true });
    // Without a listener, a connection lost while idle would crash the process; the next statement reports it.
    session.on('error', () => undefined);
    await session.connect();
    await session.query(`${KEEPALIVE}; set idle_session_timeout = ${Math.round(timeout)}`);
    return new FleetBudgets(new Session(session), timeout);
  }

  /** The budgets of the fleet whose state is this PostgreSQL schema (where migrations made rate_budgets). */
  static forState(location: PgLocation): Promise<FleetBudgets> {
    return FleetBudgets.open(schemaConnection(location));
  }

  /** The budget of one destination, the same for every sync that sends to it (its first rate and concurrency hold). */
  budgetFor(destination: string, requestsPerSecond: number, concurrency: number): FleetBudget {
    let budget = this.budgets.get(destination);
    if (!budget) {
      budget = {
        limiter: new FleetRateBudget(this.session, this.clock, destination, requestsPerSecond),
        gate: new FleetSlots(this.session, destination, concurrency),
      };
      this.budgets.set(destination, budget);
    }
    return budget;
  }

  /** Statements run on the state so far (the bench divides them by requests). */
  get statements(): number {
    return this.session.statements;
  }

  /** Gives the slots back and closes the connection. */
  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    for (const { limiter, gate } of this.budgets.values()) await Promise.all([limiter.close(), gate.close()]);
    // A connection already lost has nothing left to close: its slots went with it.
    await endQuietly(this.session.client);
  }
}
