// Calls into the PostgreSQL state's thread (src/state/pg/worker.ts) and waits for the answer, so the
// store contract stays synchronous on PostgreSQL as on SQLite. Written by hand rather than with
// synckit: its one-function API has no channel for what the thread says on its own (a lock lost
// between calls), which the heartbeat needs. One thread serves every store of the process.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { receiveError, StateError } from '../../errors.js';
import type { Answer, Call, LockLostEvent } from './worker.js';

// Run from the TypeScript sources (tests, tsx), the thread is the build of those same sources.
const WORKER_FILE = import.meta.url.endsWith('.ts')
  ? new URL('../../../dist/src/state/pg/worker.js', import.meta.url)
  : new URL('./worker.js', import.meta.url);

const STARTUP_MS = 60_000;

class Bridge {
  private readonly worker: Worker;
  private readonly port: MessagePort;
  private readonly signal = new Int32Array(new SharedArrayBuffer(4));
  private readonly lockListeners = new Map<number, (sync: string, why: string) => void>();
  private exited?: string;
  private answered = false;

  constructor() {
    if (!fs.existsSync(WORKER_FILE)) throw new StateError(`${fileURLToPath(WORKER_FILE)} is missing: run npm run build`);
    this.worker = new Worker(WORKER_FILE, { execArgv: workerExecArgv() });
    const channel = new MessageChannel();
    this.port = channel.port1;
    this.port.unref();
    this.worker.postMessage({ port: channel.port2, signal: this.signal }, [channel.port2]);
    this.worker.on('message', (event: LockLostEvent) => this.lockListeners.get(event.session)?.(event.sync, event.why));
    this.worker.on('exit', (code) => (this.exited = `exit code ${code}`));
    this.worker.on('error', (error) => (this.exited = error.message));
    // The thread never keeps the process alive: a command ends when its own work does. (After the
    // listeners: adding one refs the thread again.)
    this.worker.unref();
  }

  call(session: number, op: string, args: unknown[]): unknown {
    if (this.exited) throw new StateError(`the state database thread stopped (${this.exited}); run the command again`);
    Atomics.store(this.signal, 0, 0);
    this.port.postMessage({ session, op, args } satisfies Call);
    // The first answer also says the thread started: one that cannot (its file fails to load) would
    // otherwise be waited for forever, since its error event needs this thread's event loop.
    if (Atomics.wait(this.signal, 0, 0, this.answered ? undefined : STARTUP_MS) === 'timed-out') {
      throw new StateError(`the state database thread did not start within ${STARTUP_MS / 1000} s; run with BACKFLOW_DEBUG=1 and report it`);
    }
    this.answered = true;
    const answer = receiveMessageOnPort(this.port)?.message as Answer | undefined;
    if (!answer) throw new StateError('the state database thread gave no answer; run the command again');
    if ('error' in answer) throw receiveError(answer.error);
    return answer.value;
  }

  onLockLost(session: number, listener: ((sync: string, why: string) => void) | undefined): void {
    if (listener) this.lockListeners.set(session, listener);
    else this.lockListeners.delete(session);
  }
}

/**
 * The process's Node flags without those that name the main script: a worker inherits execArgv,
 * and one started by `node -e CODE` would run CODE again instead of its own file.
 */
function workerExecArgv(): string[] {
  const flags: string[] = [];
  for (let index = 0; index < process.execArgv.length; index++) {
    const flag = process.execArgv[index];
    if (flag === '-e' || flag === '--eval' || flag === '-p' || flag === '--print') index++;
    else if (!flag.startsWith('--input-type') && !flag.startsWith('--eval=') && !flag.startsWith('--print=')) flags.push(flag);
  }
  return flags;
}

let bridge: Bridge | undefined;

export function stateThread(): Bridge {
  return (bridge ??= new Bridge());
}
