// The daemon runs each sync on its schedule, keeps going when one sync fails, and reloads on SIGHUP.
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { StateStore } from '../../src/state/store.js';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { gamifyWarehouse, sqliteExec, writeFile } from '../helpers/index.js';
import { daemonConfig, DaemonProcess, runFinished, SECRET_KEY } from './daemon-process.js';

const BROKEN_SYNC = `
  - name: broken
    source: warehouse
    query: select * from table_that_does_not_exist
    primaryKey: id
    destination: gamify
    schedule: "* * * * * *"
    mapping:
      externalId: id
`;

describe('the daemon schedule', () => {
  let emulator: GamifyHostEmulator;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    ({ dir, emulator } = await gamifyWarehouse(5));
    env = { GAMIFY_KEY: SECRET_KEY, GAMIFY_URL: emulator.url };
  });

  it('runs each sync on its schedule, and a failing sync never stops the others', async () => {
    const config = writeFile(dir, 'backflow.yaml', daemonConfig({ schedule: '* * * * * *', extraSyncs: BROKEN_SYNC }));
    const daemon = new DaemonProcess(config, env);

    const first = await daemon.waitForLog(runFinished('users'), 'the first run of users');
    expect(first).toMatchObject({ outcome: 'success', counts: expect.objectContaining({ added: 5, sent: 5 }) });
    expect(emulator.sentBodies.map((body) => body.externalId).sort()).toEqual(['1', '2', '3', '4', '5']);

    const broken = await daemon.waitForLog(runFinished('broken'), 'the broken sync to fail');
    expect(broken.outcome).toBe('failed');
    expect(broken.error).toContain('table_that_does_not_exist');

    // A later tick picks up a change, while the broken sync keeps failing beside it.
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Renamed' where id = 2");
    const changed = await daemon.waitForLog((line) => runFinished('users')(line) && (line.counts as { sent: number }).sent === 1, 'a run sending the change');
    expect(changed).toMatchObject({ outcome: 'success', counts: expect.objectContaining({ changed: 1, unchanged: 4 }) });
    expect(emulator.sentBodies).toHaveLength(6);
    expect(emulator.sentBodies[5]).toMatchObject({ externalId: '2', displayName: 'Renamed' });
    await daemon.waitForNth(runFinished('broken'), 2, 'the broken sync to be tried again');

    const health = await fetch(`${await daemon.url()}/healthz`);
    expect(health.status).toBe(200);

    daemon.signal('SIGTERM');
    expect((await daemon.exited).code).toBe(0);

    const state = StateStore.openForReading(path.join(dir, 'state.db'));
    const runs = state.runs(undefined, 100);
    state.close();
    expect(runs.filter((run) => run.sync === 'broken').every((run) => run.outcome === 'failed' && run.error?.includes('table_that_does_not_exist'))).toBe(true);
    expect(runs.filter((run) => run.sync === 'users' && run.outcome === 'success').length).toBeGreaterThanOrEqual(2);
    expect(runs.some((run) => run.outcome === 'running')).toBe(false);
  });

  it('reloads the config on SIGHUP without dropping a running sync, and refuses a broken config', async () => {
    const config = writeFile(dir, 'backflow.yaml', daemonConfig({ schedule: '0 0 1 1 *', concurrency: 1 }));
    const daemon = new DaemonProcess(config, env);
    await daemon.url();

    // A bad config is refused with its position; the daemon keeps the old one.
    writeFile(dir, 'backflow.yaml', daemonConfig({ schedule: 'every minute' }));
    daemon.signal('SIGHUP');
    const refused = await daemon.waitForLog((line) => line.msg.startsWith('config reload refused'), 'the refusal');
    expect(refused.issues).toEqual([expect.stringMatching(/backflow\.yaml:\d+:\d+: syncs\[0\]\.schedule: "every minute" is not a valid cron expression/)]);

    // A valid config that schedules every second applies; the first run waits on the destination.
    emulator.hold();
    writeFile(dir, 'backflow.yaml', daemonConfig({ schedule: '* * * * * *', concurrency: 1 }));
    daemon.signal('SIGHUP');
    await daemon.waitForLog((line) => line.msg === 'run started' && line.sync === 'users', 'a run on the new schedule');

    // Reloading mid-run leaves the run going; it finishes with every record sent once.
    daemon.signal('SIGHUP');
    const reloaded = await daemon.waitForNth((line) => line.msg === 'config reloaded', 2, 'the second reload');
    expect(reloaded.running).toEqual(['users']);
    emulator.release();
    const finished = await daemon.waitForLog(runFinished('users'), 'the run to finish');
    expect(finished).toMatchObject({ outcome: 'success', counts: expect.objectContaining({ sent: 5 }) });
    expect(emulator.sentBodies).toHaveLength(5);

    const metrics = await daemon.metricsText();
    expect(metrics).toContain('backflow_config_reloads_total{result="refused"} 1');
    expect(metrics).toContain('backflow_config_reloads_total{result="applied"} 2');

    daemon.signal('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
  });
});
