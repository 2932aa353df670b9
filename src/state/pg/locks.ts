// One sync runs in one place at a time, for a whole fleet. A run holds the sync's session-level
// advisory lock on its connection, so PostgreSQL itself releases it the moment that member's
// process (or its connection) dies: a SIGKILLed member is taken over at once, never after a guessed
// expiry. A member that is alive but stuck (paused with SIGSTOP, its connection still open) stops
// heartbeating; once its heartbeat is older than the expiry, the next member ends its connection
// (pg_terminate_backend), which frees the advisory lock, and takes the sync. Every write the run
// makes checks, in its own transaction, that its row in `locks` still has its token and its
// connection (`fence`): a resumed zombie's late commit finds the lock gone and is refused.
import { createHash, randomUUID } from 'node:crypto';
import os from 'node:os';
import { StateError, SyncLockedError } from '../../errors.js';
import { describeHolder, heartbeatIntervalMs, type LockHolder } from '../locks.js';
import type { UnlockResult } from '../contract.js';
import type { Query, Session } from './session.js';

interface Held {
  token: string;
  timer: NodeJS.Timeout;
}

/** Two int4 keys for pg_*_advisory_lock: from a hash of the schema and the sync (hashtext collides too often). */
function advisoryKey(schema: string, sync: string): [number, number] {
  const digest = createHash('sha256').update(`backflow.lock\u0000${schema}\u0000${sync}`).digest();
  return [digest.readInt32BE(0), digest.readInt32BE(4)];
}

type Row = LockHolder & { backend_pid: number | null; token: string; stale_ms: number };

export class PgLocks {
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly session: Session,
    private readonly onLost: (sync: string, why: string) => void,
  ) {
    // The connection died: PostgreSQL released every advisory lock it held.
    session.onConnectionLost = (why) => {
      for (const sync of [...this.held.keys()]) this.lose(sync, `lost the lock of sync "${sync}": ${why}`);
    };
  }

  private key(sync: string) {
    return advisoryKey(this.session.options.schema, sync);
  }

  private async holder(q: Query, sync: string): Promise<Row | undefined> {
    return (
      await q(
        `select pid, host, acquired_at, heartbeat_at, backend_pid, token,
           (extract(epoch from clock_timestamp()) * 1000 - extract(epoch from coalesce(heartbeat_at, acquired_at)::timestamptz) * 1000)::float8 as stale_ms
         from locks where sync = $1`,
        [sync],
      )
    ).rows[0] as Row | undefined;
  }

  private async tryAdvisory(q: Query, sync: string): Promise<boolean> {
    return (await q('select pg_try_advisory_lock($1, $2) as got', this.key(sync))).rows[0].got as boolean;
  }

  /** Ends a stuck holder's connection, and waits (briefly) until PostgreSQL has freed its advisory lock. */
  private async evict(q: Query, sync: string, backendPid: number | null): Promise<boolean> {
    if (backendPid !== null) await q('select pg_terminate_backend($1)', [backendPid]);
    for (let attempt = 0; attempt < 50; attempt++) {
      if (await this.tryAdvisory(q, sync)) return true;
      await q('select pg_sleep(0.1)');
    }
    return false;
  }

  private staleWhy(row: Row, expiryMs: number): string | undefined {
    if (row.stale_ms <= expiryMs) return undefined;
    return `process ${row.pid} on ${row.host} stopped heartbeating (last at ${row.heartbeat_at ?? row.acquired_at}, over ${expiryMs / 1000} s ago)`;
  }

  async acquireLock(sync: string, expiryMs: number): Promise<void> {
    if (this.held.has(sync)) throw new SyncLockedError(`sync "${sync}" is already running in this process (process ${process.pid} on ${os.hostname()})`);
    const token = randomUUID();
    await this.session.exclusive(async (q) => {
      let why = 'the process ended before the run finished (its connection to the state database closed)';
      if (!(await this.tryAdvisory(q, sync))) {
        const row = await this.holder(q, sync);
        const stale = row && this.staleWhy(row, expiryMs);
        if (!row || !stale) {
          throw new SyncLockedError(
            row
              ? `sync "${sync}" is already running (${describeHolder(row)}). Wait for it to finish: a holder that stops heartbeating is taken over ${expiryMs / 1000} s after its last heartbeat, one whose process ends at once. If you know that process is gone, run: backflow unlock --sync ${sync}`
              : `sync "${sync}" is being started by another process; try again in a moment`,
          );
        }
        if (!(await this.evict(q, sync, row.backend_pid)))
          throw new SyncLockedError(`sync "${sync}": ${stale}, but its connection could not be ended; try again`);
        why = `taken over: ${stale}`;
      } else {
        const row = await this.holder(q, sync);
        if (row) why = `taken over: process ${row.pid} on ${row.host} ended before the run finished (its connection to the state database closed)`;
      }
      await q('begin');
      try {
        const at = new Date().toISOString();
        await q(
          `insert into locks (sync, pid, host, run_id, acquired_at, heartbeat_at, token, backend_pid) values ($1, $2, $3, null, $4, $4, $5, pg_backend_pid())
           on conflict (sync) do update set pid = excluded.pid, host = excluded.host, run_id = null, acquired_at = excluded.acquired_at,
             heartbeat_at = excluded.heartbeat_at, token = excluded.token, backend_pid = excluded.backend_pid`,
          [sync, process.pid, os.hostname(), at, token],
        );
        await interruptRuns(q, sync, why);
        await q('commit');
      } catch (error) {
        await q('rollback').catch(() => undefined);
        await q('select pg_advisory_unlock($1, $2)', this.key(sync)).catch(() => undefined);
        throw error;
      }
    });
    const timer = setInterval(() => void this.beat(sync, token), heartbeatIntervalMs(expiryMs));
    this.held.set(sync, { token, timer });
  }

  private async beat(sync: string, token: string): Promise<void> {
    let changed: number;
    try {
      changed = await this.session.exclusive(
        async (q) => (await q('update locks set heartbeat_at = $1 where sync = $2 and token = $3', [new Date().toISOString(), sync, token])).rowCount ?? 0,
      );
    } catch {
      // The server is busy or unreachable: the next beat tries again (a dead connection reports itself).
      return;
    }
    if (changed === 0 && this.held.get(sync)?.token === token) {
      const row = await this.session.exclusive((q) => this.holder(q, sync)).catch(() => undefined);
      this.lose(
        sync,
        row ? `the lock of sync "${sync}" was taken over by ${describeHolder(row)}` : `the lock of sync "${sync}" was removed by backflow unlock --force`,
      );
    }
  }

  private lose(sync: string, why: string): void {
    const held = this.held.get(sync);
    if (!held) return;
    clearInterval(held.timer);
    // The token stays known to the fence (held keeps it), so a write after the loss is refused.
    this.lost.add(sync);
    this.onLost(sync, why);
  }

  private readonly lost = new Set<string>();

  /** Inside a write's transaction: refuses it if this connection held the sync's lock and no longer does. */
  readonly fence = async (q: Query, sync: string): Promise<void> => {
    const held = this.held.get(sync);
    if (!held) return;
    const still =
      !this.lost.has(sync) &&
      (await q('select 1 from locks where sync = $1 and token = $2 and backend_pid = pg_backend_pid() for share', [sync, held.token])).rowCount === 1;
    if (!still) {
      throw new StateError(
        `this run no longer holds the lock of sync "${sync}" (another member took it over, or its connection to the state database was lost): it commits nothing more; the records it sent since its last commit are sent again by the run that holds the lock now`,
      );
    }
  };

  async releaseLock(sync: string): Promise<void> {
    const held = this.held.get(sync);
    if (!held) return;
    clearInterval(held.timer);
    this.held.delete(sync);
    const lost = this.lost.delete(sync);
    if (lost) return;
    await this.session
      .exclusive(async (q) => {
        await q('delete from locks where sync = $1 and token = $2', [sync, held.token]);
        await q('select pg_advisory_unlock($1, $2)', this.key(sync));
      })
      .catch(() => undefined); // A dead connection released its advisory lock already; the row is taken over.
  }

  async unlock(sync: string, expiryMs: number, force: boolean): Promise<UnlockResult> {
    return this.session.exclusive(async (q): Promise<UnlockResult> => {
      const row = await this.holder(q, sync);
      if (!row) return { removed: false };
      const free = await this.tryAdvisory(q, sync);
      const stale = this.staleWhy(row, expiryMs);
      const why = free
        ? `process ${row.pid} on ${row.host} is gone (its connection to the state database closed)`
        : (stale ?? `unlocked with --force while ${describeHolder(row)}`);
      if (!free && !stale && !force) {
        throw new SyncLockedError(
          `sync "${sync}" is locked by a live holder (${describeHolder(row)}), so it was not unlocked. ` +
            `Stop that process, or wait ${expiryMs / 1000} s past its last heartbeat; pass --force only if you know it is gone (its connection is then ended, and it commits nothing more).`,
        );
      }
      if (!free) await this.evict(q, sync, row.backend_pid);
      await q('begin');
      await q('delete from locks where sync = $1', [sync]);
      await interruptRuns(q, sync, `unlocked: ${why}`);
      await q('commit');
      await q('select pg_advisory_unlock($1, $2)', this.key(sync));
      return { removed: true, holder: { pid: row.pid, host: row.host, acquired_at: row.acquired_at, heartbeat_at: row.heartbeat_at }, why };
    });
  }

  stopAll(): void {
    for (const held of this.held.values()) clearInterval(held.timer);
    this.held.clear();
  }
}

/** Runs still `running` once the caller holds the sync's lock were left by a holder that died or lost it. */
async function interruptRuns(q: Query, sync: string, why: string): Promise<void> {
  await q("update runs set outcome = 'interrupted', ended_at = coalesce(ended_at, $1), error = coalesce(error, $2) where sync = $3 and outcome = 'running'", [
    new Date().toISOString(),
    why,
    sync,
  ]);
}
