// Fleet mode for the daemon (the state on PostgreSQL): this process registers as a member, its
// schedules' ticks become fleet jobs (one per tick, whichever members tick it), and the jobs its
// workers take are run here by the daemon's Runner.
import type pg from 'pg';
import { fleetPool } from '../fleet/connect.js';
import { Dispatcher, type JobHandler } from '../fleet/dispatch.js';
import { ensureMemberTables, Member, memberExpiryMs } from '../fleet/members.js';
import type { Logger } from '../log.js';
import { heartbeatIntervalMs } from '../state/locks.js';

export interface FleetOptions {
  url: string;
  schema: string;
  /** The syncs' lock expiry (state.lockExpirySeconds): the member expiry is derived from it. */
  lockExpiryMs: number;
  log: Logger;
}

export class Fleet {
  private constructor(
    readonly member: Member,
    private readonly dispatcher: Dispatcher,
    private readonly db: pg.Pool,
    private readonly log: Logger,
  ) {}

  static async join(options: FleetOptions): Promise<Fleet> {
    const db = fleetPool(options.url, options.schema, options.log);
    try {
      await ensureMemberTables(db);
      const expiryMs = memberExpiryMs(options.lockExpiryMs);
      const member = await Member.register(db, { expiryMs, log: options.log });
      const dispatcher = await Dispatcher.start({
        url: options.url,
        stateSchema: options.schema,
        db,
        member,
        log: options.log,
        reapEveryMs: Math.min(5000, heartbeatIntervalMs(expiryMs)),
      });
      return new Fleet(member, dispatcher, db, options.log);
    } catch (error) {
      await db.end().catch(() => {});
      throw error;
    }
  }

  /** Sends the job of `sync`'s tick at `instant`; the first member to send it queues it. */
  tick(sync: string, instant: Date): void {
    this.dispatcher.tick(sync, instant).then(
      (id) => {
        if (id) this.log.info({ sync, tick: instant.toISOString(), job: id }, 'tick queued for the fleet');
        else this.log.debug({ sync, tick: instant.toISOString() }, 'tick already queued by another member');
      },
      (error: unknown) => this.log.error({ sync, err: error }, 'could not queue this tick for the fleet: the sync runs at its next tick'),
    );
  }

  /** Works the jobs of these syncs here (a config reload passes the new list). */
  async work(syncs: string[], handler: JobHandler): Promise<void> {
    await this.dispatcher.work(syncs, handler);
  }

  /** Stops taking jobs at once; resolves once the jobs taken are settled and this member has left. */
  async leave(): Promise<void> {
    try {
      await this.dispatcher.stop();
      await this.member.deregister();
    } finally {
      await this.db.end();
    }
  }
}
