// The PostgreSQL state's thread. The store contract is synchronous (the engine reads state between
// rows, as it does from SQLite), and node-postgres is asynchronous: the main thread posts each call
// here and sleeps on a shared flag until the answer is posted back (src/state/pg/bridge.ts). Lock
// heartbeats run on this thread's own event loop, so a busy main thread never makes its lock look dead.
import { parentPort, type MessagePort } from 'node:worker_threads';
import { postError } from '../../errors.js';
import type { KeyRead, UnlockResult } from '../contract.js';
import { PgLocks } from './locks.js';
import { PgRecords } from './records.js';
import { PgRunReads } from './run-reads.js';
import { PgRuns } from './runs.js';
import { Session, type SessionOptions } from './session.js';

export interface Call {
  session: number;
  op: string;
  args: unknown[];
}
export type Answer = { value: unknown } | { error: ReturnType<typeof postError> };
/** What this thread tells the main thread on its own: a lock lost. */
export interface LockLostEvent {
  session: number;
  sync: string;
  why: string;
}

class OpenState {
  readonly records: PgRecords;
  readonly runs: PgRuns;
  readonly locks: PgLocks;
  reads?: PgRunReads;

  constructor(
    readonly session: Session,
    id: number,
  ) {
    this.locks = new PgLocks(session, (sync, why) => parentPort!.postMessage({ session: id, sync, why } satisfies LockLostEvent));
    this.records = new PgRecords(session, this.locks.fence);
    this.runs = new PgRuns(session);
  }

  async call(op: string, args: unknown[]): Promise<unknown> {
    if (op in OPS) return OPS[op](this, args);
    for (const part of [this.records, this.runs] as unknown as Record<string, unknown>[]) {
      const method = part[op];
      if (typeof method === 'function') return (method as (...values: unknown[]) => unknown).apply(part, args);
    }
    throw new Error(`unknown state operation ${op}`);
  }
}

type Op = (state: OpenState, args: unknown[]) => Promise<unknown>;
const OPS: Record<string, Op> = {
  acquireLock: (state, [sync, expiryMs]) => state.locks.acquireLock(sync as string, expiryMs as number),
  releaseLock: (state, [sync]) => state.locks.releaseLock(sync as string),
  unlock: (state, [sync, expiryMs, force]): Promise<UnlockResult> => state.locks.unlock(sync as string, expiryMs as number, force as boolean),
  check: (state) => state.runs.check(),
  newReads: async (state) => {
    state.reads = new PgRunReads(state.session);
    await state.reads.open();
  },
  noteReads: (state, [reads, settled]) => state.reads!.noteReads(reads as KeyRead[], settled as boolean),
  markSettled: (state, [keys]) => state.reads!.markSettled(keys as string[]),
  safeCursor: (state) => state.reads!.safeCursor(),
  unseenKeys: (state, [sync, after, limit]) => state.reads!.unseenKeys(sync as string, after as string, limit as number),
};

const open = new Map<number, OpenState>();
let nextId = 1;

async function handle(call: Call): Promise<unknown> {
  if (call.op === 'open') {
    const session = new Session(call.args[0] as SessionOptions);
    const id = nextId++;
    const state = new OpenState(session, id);
    // Connect now, so a wrong URL or schema is said when the command starts.
    await session.exclusive(async () => undefined);
    open.set(id, state);
    return id;
  }
  const state = open.get(call.session);
  if (!state) throw new Error(`state session ${call.session} is closed`);
  if (call.op === 'close') {
    open.delete(call.session);
    state.locks.stopAll();
    await state.session.close();
    return undefined;
  }
  return state.call(call.op, call.args);
}

interface Setup {
  port: MessagePort;
  signal: Int32Array;
}

parentPort!.once('message', ({ port, signal }: Setup) => {
  port.on('message', (call: Call) => {
    void handle(call).then(
      (value) => answer(port, signal, { value }),
      (error: unknown) => answer(port, signal, { error: postError(error) }),
    );
  });
});

function answer(port: MessagePort, signal: Int32Array, message: Answer): void {
  port.postMessage(message);
  Atomics.store(signal, 0, 1);
  Atomics.notify(signal, 0);
}
