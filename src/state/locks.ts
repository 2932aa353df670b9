// Is a sync lock's holder still alive? Decided from what any host can see: the holder's heartbeat,
// refreshed while it runs, and (on the holder's own host only) whether its process exists. Any
// store keeps the same row and asks this one function; a shared server store would pass its own
// clock as nowMs, so hosts' clocks never disagree about an expiry.

/** A lock row as every state store keeps it. */
export interface LockHolder {
  pid: number;
  host: string;
  acquired_at: string;
  /** Null: written by a Backflow from before heartbeats (state schema 2). */
  heartbeat_at: string | null;
}

/** Several heartbeats per expiry, so one late beat (a busy state file, a loaded machine) never loses the lock. */
export function heartbeatIntervalMs(expiryMs: number): number {
  return Math.max(100, Math.floor(expiryMs / 6));
}

export interface Here {
  host: string;
  pid: number;
  nowMs: number;
  expiryMs: number;
  isAlive: (pid: number) => boolean;
}

export type Liveness = { alive: true } | { alive: false; why: string };

/**
 * Alive unless: its process is gone (same host, the fast path), or its heartbeat is older than the
 * expiry (any host; a paused or vanished holder). A lock from before heartbeats counts its
 * acquisition as its last sign of life, except on its own host, where the pid still answers.
 */
export function holderLiveness(holder: LockHolder, here: Here): Liveness {
  const sameHost = holder.host === here.host;
  if (sameHost && holder.pid === here.pid) return { alive: false, why: `it was left by this process (${holder.pid})` };
  if (sameHost && !here.isAlive(holder.pid)) return { alive: false, why: `its process ${holder.pid} on ${holder.host} no longer exists` };
  if (sameHost && holder.heartbeat_at === null) return { alive: true };
  const lastSign = holder.heartbeat_at ?? holder.acquired_at;
  const age = here.nowMs - Date.parse(lastSign);
  if (!(age <= here.expiryMs)) {
    return { alive: false, why: `process ${holder.pid} on ${holder.host} stopped heartbeating (last at ${lastSign}, over ${here.expiryMs / 1000} s ago)` };
  }
  return { alive: true };
}

/** The holder as a person reads it: which process, where, since when, its last heartbeat. */
export function describeHolder(holder: LockHolder): string {
  const beat = holder.heartbeat_at ? `last heartbeat ${holder.heartbeat_at}` : 'no heartbeat (an older Backflow)';
  return `process ${holder.pid} on ${holder.host}, since ${holder.acquired_at}, ${beat}`;
}

/** Whether a process with this pid exists on this host (EPERM: it does, owned by someone else). */
export function pidIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
