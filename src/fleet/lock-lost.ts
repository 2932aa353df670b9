// The error a zombie member meets: its run's lock was taken over, so it must not send another request.
import { StateError } from '../errors.js';

/** The run's lock (locks.sync, locks.token) is gone or holds another token: another member runs the sync now. */
export class LockLostError extends StateError {
  constructor(readonly sync: string) {
    super(`the lock of sync "${sync}" was taken over by another member; this run stops sending`);
  }
}
