// The store contract (src/state/contract.ts), run against every implementation the way the source
// contract suite runs against every source. Each implementation opens a fresh, empty state and can
// open a second connection to that same state (another process, as far as locks are concerned).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SyncLockedError } from '../../src/errors.js';
import { registerSecrets } from '../../src/redact.js';
import type { Store } from '../../src/state/contract.js';
import { PgStateStore } from '../../src/state/pg/store.js';
import { StateStore } from '../../src/state/store.js';
import { tempDir, waitUntil } from '../helpers/index.js';
import { PG_STATE_URL, pgStateSchema } from '../helpers/pg-state.js';

/** Another process holding a sync's lock on the same state. */
interface Holder {
  pid: number;
  /** It releases the lock and exits. */
  release(): Promise<void>;
  /** It is killed with SIGKILL, the lock left behind. */
  kill(): Promise<void>;
}

interface StoreFixture {
  name: string;
  /** What the store says of a holder whose process died. */
  deadHolder: string;
  /** A fresh empty state, closed when the test ends. */
  open(): Store;
  /** Another process takes the sync's lock on the state last opened (resolves once it holds it). */
  holdElsewhere(sync: string): Promise<Holder>;
}

/**
 * A child process that opens the state (a store module of dist, opened with `open`), takes the
 * sync's lock and holds it until its stdin ends.
 */
async function holder(module: string, open: string, sync: string): Promise<Holder> {
  const store = new URL(`../../dist/src/state/${module}`, import.meta.url).href;
  const script = `import * as stores from ${JSON.stringify(store)};
    const sync = process.argv[1];
    const state = ${open};
    state.acquireLock(sync, { expiryMs: 30000 });
    console.log('locked');
    process.stdin.on('end', () => { state.releaseLock(sync); state.close(); process.exit(0); }).resume();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script, sync], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  onTestFinished(async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  });
  const [line] = (await Promise.race([once(createInterface({ input: child.stdout }), 'line'), exited])) as [unknown];
  if (line !== 'locked') throw new Error(`the lock holder exited before taking the lock (${String(line)})`);
  return {
    pid: child.pid!,
    release: async () => {
      child.stdin.end();
      await exited;
    },
    kill: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

const IMPLEMENTATIONS: StoreFixture[] = [
  (() => {
    let file = '';
    return {
      name: 'SQLite',
      deadHolder: 'no longer exists',
      open() {
        file = path.join(tempDir(), 'state.db');
        return StateStore.open(file);
      },
      holdElsewhere: (sync: string) => holder('store.js', `stores.StateStore.open(${JSON.stringify(file)})`, sync),
    };
  })(),
  (() => {
    let location = { url: PG_STATE_URL, schema: '' };
    return {
      name: 'PostgreSQL',
      deadHolder: 'connection to the state database closed',
      open() {
        location = { url: PG_STATE_URL, schema: pgStateSchema() };
        return PgStateStore.open(location);
      },
      holdElsewhere: (sync: string) => holder('pg/store.js', `stores.PgStateStore.open(${JSON.stringify(location)})`, sync),
    };
  })(),
];

/** Opens a fresh state, closed when the test ends. */
function openState(fixture: StoreFixture) {
  const store = fixture.open();
  onTestFinished(() => store.close());
  return { store };
}

const LOCK = { expiryMs: 30_000 };
const confirmation = (key: string, fingerprint = `f${key}`) => ({ key, fingerprint, payload: { id: key, name: `user ${key}` }, rowHash: `r${key}` });

describe.each(IMPLEMENTATIONS)('the $name store', (fixture) => {
  const withState = (test: (state: ReturnType<typeof openState>) => void | Promise<void>) => () => test(openState(fixture));

  it(
    'keeps what was confirmed: fingerprints, payloads and hashes by key, per sync; each commit moves the generation',
    withState(({ store }) => {
      expect(store.recordCount('users')).toBe(0);
      const before = store.generation('users');
      store.commitConfirmed('users', null, [confirmation('1'), confirmation('2'), { ...confirmation('3'), sourceHash: 's3' }]);
      store.commitConfirmed('orgs', null, [confirmation('1', 'org')]);
      expect(store.generation('users')).toBeGreaterThan(before);
      expect(store.recordCount('users')).toBe(3);
      const { records, rejections } = store.lookup('users', ['1', '3', 'missing']);
      expect(records).toEqual(
        new Map([
          ['1', 'f1'],
          ['3', 'f3'],
        ]),
      );
      expect(rejections.size).toBe(0);
      expect(store.lookup('orgs', ['1']).records.get('1')).toBe('org');
      expect(JSON.parse(store.confirmedPayloads('users', ['2']).get('2')!)).toEqual({ id: '2', name: 'user 2' });
      expect(store.rowHashes('users', ['1', 'missing'])).toEqual(new Map([['1', 'r1']]));
      expect(store.sourceHashes('users', ['1', '3'])).toEqual(
        new Map([
          ['1', null],
          ['3', 's3'],
        ]),
      );
      store.setRowHashes('users', [{ key: '1', rowHash: 'r1b' }]);
      store.setSourceHashes('users', [{ key: '1', sourceHash: 's1' }]);
      expect(store.rowHashes('users', ['1']).get('1')).toBe('r1b');
      expect(store.sourceHashes('users', ['1']).get('1')).toBe('s1');
      // A newer confirmation replaces the older one.
      store.commitConfirmed('users', null, [confirmation('1', 'f1-new')]);
      expect(store.lookup('users', ['1']).records.get('1')).toBe('f1-new');
    }),
  );

  it(
    'records rejections with their attempts until the record is confirmed; invalid records are issues of the run only',
    withState(({ store }) => {
      const run = store.startRun('users', false);
      const issue = { key: '1', fingerprint: 'f1', status: 422, reason: 'bad email', class: 'rejected' as const };
      store.recordIssues('users', run, [issue, { key: '2', fingerprint: '', status: null, reason: 'no email', class: 'invalid' }]);
      store.recordIssues('users', run, [{ ...issue, reason: 'bad email again' }]);
      const rejection = store.lookup('users', ['1', '2']).rejections;
      expect([...rejection.keys()]).toEqual(['1']);
      expect(rejection.get('1')).toMatchObject({ fingerprint: 'f1', status: 422, reason: 'bad email again', attempts: 2 });
      expect(store.rejections('users', 10).map((row) => [row.sync, row.key])).toEqual([['users', '1']]);
      expect(store.runIssueCount(run)).toBe(3);
      expect(store.runIssues(run, 2, 1).map((row) => [row.key, row.class])).toEqual([
        ['2', 'invalid'],
        ['1', 'rejected'],
      ]);
      store.commitConfirmed('users', run, [confirmation('1')]);
      expect(store.lookup('users', ['1']).rejections.size).toBe(0);
    }),
  );

  it(
    'keeps records a background job holds pending until it completes (committed) or fails (issues)',
    withState(({ store }) => {
      const run = store.startRun('users', false);
      store.recordPending('users', run, 'job-a', [confirmation('1'), confirmation('2')]);
      store.recordPending('users', run, 'job-b', [confirmation('3')]);
      expect(store.pendingJobs('users')).toEqual(['job-a', 'job-b']);
      expect(store.pendingVersions('users').get('1')).toEqual(new Set(['f1']));
      expect(store.recordCount('users')).toBe(0);
      expect(store.settleJob('users', run, 'job-a', { kind: 'completed' })).toEqual(['1', '2']);
      expect(store.lookup('users', ['1', '2']).records.size).toBe(2);
      expect(store.settleJob('users', run, 'job-b', { kind: 'failed', reason: 'job failed' })).toEqual(['3']);
      expect(store.lookup('users', ['3'])).toMatchObject({
        records: new Map(),
        rejections: new Map([['3', expect.objectContaining({ reason: 'job failed' })]]),
      });
      expect(store.pendingJobs('users')).toEqual([]);
    }),
  );

  it(
    'keeps the run history: a run from start to outcome, live counts, pages, the last run per sync; errors redacted',
    withState(({ store }) => {
      registerSecrets(['sk_live_abcdefghijklmnop1234']);
      const first = store.startRun('users', true);
      store.recordLiveCounts(first, { sent: 5 });
      expect(store.run(first)!.counts).toEqual({ sent: 5 });
      expect(store.run(first)).toMatchObject({ sync: 'users', outcome: 'running', full: true, endedAt: null });
      store.finishRun(first, 'partial', { sent: 9, rejected: 1 }, 'vendor said: token=sk_live_abcdefghijklmnop1234 is bad');
      const second = store.startRun('users', false);
      store.finishRun(second, 'failed', {}, 'down');
      store.finishRun(store.startRun('orgs', false), 'success', {});
      expect(store.run(first)).toMatchObject({ outcome: 'partial', full: true });
      expect(store.run(first)!.error).not.toContain('sk_live_abcdefghijklmnop1234');
      expect(store.runCount('users')).toBe(2);
      expect(store.runCount(undefined)).toBe(3);
      expect(store.runs('users', 1, 0).map((run) => run.id)).toEqual([second]);
      expect(store.runs('users', 1, 1).map((run) => run.id)).toEqual([first]);
      expect(store.lastRuns().map((run) => [run.sync, run.outcome])).toEqual([
        ['orgs', 'success'],
        ['users', 'failed'],
      ]);
      // Partial counts as completed (every record was tried); failed does not.
      expect(store.lastCompletedAt('users')).toBe(store.run(first)!.endedAt);
      expect(store.lastCompletedAt('nobody')).toBeNull();
    }),
  );

  it(
    'lets one holder run a sync at a time, and unlocks or takes over only a holder that is gone, unless forced',
    withState(async ({ store }) => {
      const elsewhere = await fixture.holdElsewhere('users');
      expect(() => store.acquireLock('users', LOCK)).toThrow(SyncLockedError);
      expect(() => store.acquireLock('users', LOCK)).toThrow(`process ${elsewhere.pid}`);
      expect(() => store.unlock('users', { ...LOCK, force: false })).toThrow(/locked by a live holder/);
      // Another sync is not held.
      store.acquireLock('orgs', LOCK);
      store.releaseLock('orgs');
      // Released, the lock is free again.
      await elsewhere.release();
      store.acquireLock('users', LOCK);
      store.releaseLock('users');
      expect(store.unlock('users', { ...LOCK, force: false })).toEqual({ removed: false });

      // Forced: the live holder's unfinished run is marked interrupted, with why.
      const live = await fixture.holdElsewhere('users');
      const running = store.startRun('users', false);
      expect(store.unlock('users', { ...LOCK, force: true })).toMatchObject({ removed: true });
      expect(store.run(running)).toMatchObject({ outcome: 'interrupted', error: expect.stringContaining('--force') });
      await live.release();

      // A holder that died is taken over, and its run marked interrupted.
      const dead = await fixture.holdElsewhere('users');
      const orphan = store.startRun('users', false);
      await dead.kill();
      // The state learns of the death a moment after the process ends (PostgreSQL: when its server sees the connection close).
      await waitUntil('the dead holder to be taken over', () => {
        try {
          store.acquireLock('users', LOCK);
          return true;
        } catch (error) {
          if (error instanceof SyncLockedError) return false;
          throw error;
        }
      });
      expect(store.run(orphan)).toMatchObject({ outcome: 'interrupted', error: expect.stringContaining(fixture.deadHolder) });
      store.releaseLock('users');
    }),
  );

  it(
    'keeps cursors and mapping hashes per sync, and reset forgets a sync (recorded as a run) but no other',
    withState(({ store }) => {
      expect(store.getCursor('users')).toBeNull();
      expect(store.mappingHash('users')).toBeNull();
      store.setCursor('users', '2026-12-01T00:00:00.000Z');
      store.setCursor('orgs', 42);
      store.setMappingHash('users', 'm1');
      expect(store.getCursor('users')).toBe('2026-12-01T00:00:00.000Z');
      expect(store.getCursor('orgs')).toBe(42);
      store.commitConfirmed('users', null, [confirmation('1'), confirmation('2')]);
      store.recordIssues('users', store.startRun('users', false), [{ key: '3', fingerprint: 'f3', status: 400, reason: 'no', class: 'rejected' }]);
      const generation = store.generation('users');
      const { records, runId } = store.reset('users');
      expect(records).toBe(2);
      expect(store.run(runId)).toMatchObject({ outcome: 'reset', counts: { forgotten: 2 } });
      expect(store.recordCount('users')).toBe(0);
      expect(store.lookup('users', ['3']).rejections.size).toBe(0);
      expect(store.getCursor('users')).toBeNull();
      expect(store.mappingHash('users')).toBeNull();
      expect(store.generation('users')).toBeGreaterThan(generation);
      expect(store.getCursor('orgs')).toBe(42);
    }),
  );

  it(
    "keeps a run's reads: repeats found, the safe cursor below every unsettled read, the keys not read",
    withState(({ store }) => {
      store.commitConfirmed(
        'users',
        null,
        ['a', 'b', 'c', 'd'].map((key) => confirmation(key)),
      );
      const reads = store.readsForRun();
      expect(
        reads.noteReads(
          [
            { key: 'a', cursor: 1 },
            { key: 'b', cursor: 2 },
          ],
          true,
        ),
      ).toEqual([]);
      expect(
        reads.noteReads(
          [
            { key: 'c', cursor: 3 },
            { key: 'b', cursor: 9 },
            { key: 'e', cursor: 5 },
          ],
          false,
        ),
      ).toEqual(['b']);
      // c (3) and e (5) wait for their confirmation: the cursor may pass 2, not 3.
      expect(reads.safeCursor()).toBe(2);
      reads.markSettled(['c']);
      expect(reads.safeCursor()).toBe(3);
      reads.markSettled(['e']);
      expect(reads.safeCursor()).toBe(5);
      expect(reads.unseenKeys('users', '', 10)).toEqual([{ key: 'd', fingerprint: 'fd' }]);
      // A fresh scratch for the next run starts empty.
      expect(
        store
          .readsForRun()
          .unseenKeys('users', 'a', 2)
          .map((row) => row.key),
      ).toEqual(['b', 'c']);
    }),
  );
});
