// The fleet's shared budgets of one member: per destination, a rate budget and concurrency slots,
// on one connection to the state's PostgreSQL (the slots are advisory locks of that session; the
// reservations are short statements that share it). Destination takes its limiter and gate from here.
import pg from 'pg';
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

export class FleetBudgets {
  private readonly budgets = new Map<string, FleetBudget>();
  private readonly clock = new ServerClock();

  private constructor(private readonly session: Session) {}

  /** Connects with `config` (its search_path set to the state's schema, where rate_budgets and locks are). */
  static async open(config: pg.ClientConfig): Promise<FleetBudgets> {
    const session = new pg.Client({ ...config, keepAlive: true });
    // Without a listener, a connection lost while idle would crash the process; the next statement reports it.
    session.on('error', () => undefined);
    await session.connect();
    await session.query(KEEPALIVE);
    return new FleetBudgets(new Session(session));
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
    for (const { limiter, gate } of this.budgets.values()) await Promise.all([limiter.close(), gate.close()]);
    // A connection already lost has nothing left to close: its slots went with it.
    await this.session.client.end().catch(() => undefined);
  }
}
