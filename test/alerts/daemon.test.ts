// Alerts from the daemon: one message per matching run, sent in the background so a slow endpoint never
// holds up the next scheduled run; counted in /metrics; a failing endpoint changes no run's outcome;
// and a run interrupted by SIGTERM is alerted before the daemon exits.
import { describe, expect, it, onTestFinished } from 'vitest';
import { WebhookReceiver } from '../../sandbox/webhook-receiver.js';
import { daemonConfig, DaemonProcess, metric, parseMetrics, runFinished, SECRET_KEY } from '../daemon/daemon-process.js';
import { gamifyWarehouse, waitUntil, writeFile } from '../helpers/index.js';

async function receiver(): Promise<WebhookReceiver> {
  const started = new WebhookReceiver();
  await started.start();
  onTestFinished(() => started.stop());
  return started;
}

const alertLine = (line: { msg: string }) => line.msg.startsWith('alert');

describe('daemon alerts', () => {
  it('send one message per matching run in the background: runs go on while the endpoint holds every answer', async () => {
    const { dir, emulator } = await gamifyWarehouse(3);
    const hook = await receiver();
    hook.hold();
    const alerts = `alerts:\n  - { name: every-run, type: webhook, url: "${hook.url}/runs", on: [success], timeoutSeconds: 30 }\n`;
    const config = writeFile(dir, 'backflow.yaml', daemonConfig({ schedule: '* * * * * *' }) + alerts);
    const daemon = new DaemonProcess(config, { GAMIFY_KEY: SECRET_KEY, GAMIFY_URL: emulator.url });

    // Three runs finish and their three messages arrive, while not one of them has been answered.
    await daemon.waitForNth(runFinished('users'), 3, 'three scheduled runs');
    await waitUntil('three alert messages to arrive', () => hook.posts.length >= 3);
    expect(daemon.lines.filter(alertLine)).toEqual([]);

    hook.release();
    await daemon.waitForNth((line) => line.msg === 'alert sent', 3, 'the held messages to be answered');
    daemon.signal('SIGTERM');
    expect((await daemon.exited).code).toBe(0);

    // Exactly one message per successful run, no more, no fewer (the daemon waited for the last ones).
    const succeeded = daemon.lines.filter((line) => runFinished('users')(line) && line.outcome === 'success').map((line) => line.runId);
    const messaged = hook.bodies.map((body) => body.runId);
    expect([...messaged].sort()).toEqual([...succeeded].sort());
    expect(new Set(messaged).size).toBe(messaged.length);
    expect(hook.bodies.every((body) => body.via === 'daemon' && body.outcome === 'success')).toBe(true);
    expect(daemon.lines.filter((line) => line.msg === 'alert sent')).toHaveLength(succeeded.length);
  });

  it('count sent and failed messages in /metrics, and a failing endpoint changes no outcome', async () => {
    const { dir, emulator } = await gamifyWarehouse(3);
    const hook = await receiver();
    hook.inject({ kind: 'status', status: 500, body: { error: 'down for maintenance' } }, 1000, (request) => request.path === '/failing');
    const alerts = `alerts:
  - { name: failing, type: webhook, url: "${hook.url}/failing", on: [success] }
  - { name: fine, type: webhook, url: "${hook.url}/fine", on: [success] }
  - { name: quiet, type: webhook, url: "${hook.url}/quiet" }
`;
    const env = { GAMIFY_KEY: SECRET_KEY, GAMIFY_URL: emulator.url };
    // Started on a schedule that never fires here, then reloaded with one that fires once, two seconds on.
    const config = writeFile(dir, 'backflow.yaml', daemonConfig({ schedule: '0 0 1 1 *' }) + alerts);
    const daemon = new DaemonProcess(config, env);
    const before = parseMetrics(await daemon.metricsText());
    expect(metric(before, 'backflow_alerts_total', { alert: 'failing', result: 'failed' })).toBe(0);
    expect(metric(before, 'backflow_alerts_total', { alert: 'quiet', result: 'sent' })).toBe(0);

    const second = (new Date().getSeconds() + 2) % 60;
    writeFile(dir, 'backflow.yaml', daemonConfig({ schedule: `${second} * * * * *` }) + alerts);
    daemon.signal('SIGHUP');
    const finished = await daemon.waitForLog(runFinished('users'), 'the scheduled run');
    expect(finished.outcome).toBe('success');
    const failed = await daemon.waitForLog((line) => line.msg.startsWith('alert not delivered'), 'the failing alert');
    expect(failed).toMatchObject({
      alert: 'failing',
      sync: 'users',
      runId: finished.runId,
      status: 500,
      attempts: 3,
      error: 'HTTP 500: {"error":"down for maintenance"}',
    });
    await daemon.waitForLog((line) => line.msg === 'alert sent' && line.alert === 'fine', 'the fine alert');

    const after = parseMetrics(await daemon.metricsText());
    expect(metric(after, 'backflow_alerts_total', { alert: 'failing', result: 'failed' })).toBe(1);
    expect(metric(after, 'backflow_alerts_total', { alert: 'failing', result: 'sent' })).toBe(0);
    expect(metric(after, 'backflow_alerts_total', { alert: 'fine', result: 'sent' })).toBe(1);
    expect(metric(after, 'backflow_alerts_total', { alert: 'quiet', result: 'sent' })).toBe(0);
    expect(metric(after, 'backflow_runs_total', { sync: 'users', outcome: 'success' })).toBe(1);
    expect(hook.posts.filter((post) => post.path === '/failing')).toHaveLength(3);
    expect(hook.posts.filter((post) => post.path === '/quiet')).toHaveLength(0);

    daemon.signal('SIGTERM');
    expect((await daemon.exited).code).toBe(0);
    expect(daemon.stderr).not.toContain(SECRET_KEY);
    expect(daemon.stderr).not.toContain(`${hook.url}/failing`);
  });

  it('alert a run that SIGTERM interrupts before the daemon exits', async () => {
    const { dir, emulator } = await gamifyWarehouse(3);
    const hook = await receiver();
    emulator.hold();
    const alerts = `alerts:\n  - { name: shutdowns, type: webhook, url: "${hook.url}/in", on: [interrupted] }\n`;
    const config = writeFile(dir, 'backflow.yaml', daemonConfig({ schedule: '* * * * * *', concurrency: 1 }) + alerts);
    const daemon = new DaemonProcess(config, { GAMIFY_KEY: SECRET_KEY, GAMIFY_URL: emulator.url });
    await daemon.waitForLog((line) => line.msg === 'run started', 'a run to start');
    await waitUntil('a request in flight', () => emulator.received.length > 0);

    daemon.signal('SIGTERM');
    await daemon.waitForLog((line) => line.msg.startsWith('shutting down'), 'the shutdown to begin');
    emulator.release();
    expect((await daemon.exited).code).toBe(0);

    const interrupted = daemon.lines.find((line) => runFinished('users')(line));
    expect(interrupted?.outcome).toBe('interrupted');
    expect(hook.bodies).toHaveLength(1);
    expect(hook.bodies[0]).toMatchObject({ outcome: 'interrupted', runId: interrupted?.runId, error: expect.stringContaining('shutdown') });
    const order = daemon.lines.map((line) => line.msg);
    expect(order.indexOf('alert sent')).toBeGreaterThan(-1);
    expect(order.indexOf('alert sent')).toBeLessThan(order.indexOf('daemon stopped'));
  });
});
