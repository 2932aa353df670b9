// /metrics agrees with what a run really did, /readyz answers, and every log line is JSON that
// names its sync and run, with no secret in it even when the vendor echoes one back.
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonMetrics } from '../../src/daemon/metrics.js';
import { StateStore } from '../../src/state/store.js';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { sqliteTable, tempDir, users, writeFile } from '../helpers/index.js';
import { daemonConfig, DaemonProcess, metric, parseMetrics, runFinished, SECRET_KEY } from './daemon-process.js';

describe('daemon metrics and logs', () => {
  let emulator: GamifyHostEmulator;
  let dir: string;
  let env: NodeJS.ProcessEnv;

  beforeEach(async () => {
    emulator = new GamifyHostEmulator([SECRET_KEY]);
    dir = tempDir();
    env = { GAMIFY_KEY: SECRET_KEY, GAMIFY_URL: await emulator.start() };
    const rows = users(6);
    rows[3].country = 'xx'; // record 4: not an ISO country, so invalid and never sent
    sqliteTable(path.join(dir, 'warehouse.db'), 'users', rows);
  });
  afterEach(() => emulator.stop());

  it('counts exactly what the run sent, rejected and retried, and logs it as redacted JSON', async () => {
    const startedAt = Date.now();
    // Record 3 is refused by the vendor, whose message echoes the API key; record 5 gets one 503.
    const echo = { status: 'error', code: 'BAD_REQUEST', message: `Invalid request body (email refused for key ${SECRET_KEY})` };
    emulator.inject({ kind: 'status', status: 400, body: echo }, 1, (request) => (request.body as { externalId?: string }).externalId === '3');
    emulator.inject(
      { kind: 'status', status: 503, body: { status: 'error', code: 'UNAVAILABLE', message: 'try again' } },
      1,
      (request) => (request.body as { externalId?: string }).externalId === '5',
    );

    // Started with a schedule that never fires here; given one that fires every second, then the first
    // one back while the run it started waits on the destination: exactly one run while the test reads /metrics.
    const never = daemonConfig({ schedule: '0 0 1 1 *', requestsPerSecond: 20, concurrency: 6 });
    const config = writeFile(dir, 'backflow.yaml', never);
    const daemon = new DaemonProcess(config, env);
    const url = await daemon.url();

    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready', problems: [] });
    const before = parseMetrics(await daemon.metricsText());
    expect(metric(before, 'backflow_records_total', { sync: 'users', destination: 'gamify', outcome: 'sent' })).toBe(0);
    expect(metric(before, 'backflow_last_success_timestamp_seconds', { sync: 'users' })).toBeUndefined();

    emulator.hold();
    writeFile(dir, 'backflow.yaml', daemonConfig({ schedule: '* * * * * *', requestsPerSecond: 20, concurrency: 6 }));
    daemon.signal('SIGHUP');
    await daemon.waitForLog((line) => line.msg === 'run started' && line.sync === 'users', 'the scheduled run to start');
    writeFile(dir, 'backflow.yaml', never);
    daemon.signal('SIGHUP');
    await daemon.waitForNth((line) => line.msg === 'config reloaded', 2, 'the schedule that never fires, put back');
    emulator.release();
    const finished = await daemon.waitForLog(runFinished('users'), 'the scheduled run');
    expect(finished.outcome).toBe('partial');

    const response = await fetch(`${url}/metrics`);
    expect(response.headers.get('content-type')).toContain('text/plain');
    const values = parseMetrics(await response.text());

    // The run's real counts, from the state file.
    const state = StateStore.openForReading(path.join(dir, 'state.db'));
    const [run] = state.runs('users', 10);
    state.close();
    const { counts } = run;
    expect(counts).toMatchObject({ sent: 4, rejected: 1, invalid: 1, failed: 0 });

    const records = (outcome: string) => metric(values, 'backflow_records_total', { sync: 'users', destination: 'gamify', outcome });
    expect(records('sent')).toBe(counts.sent);
    expect(records('rejected')).toBe(counts.rejected);
    expect(records('invalid')).toBe(counts.invalid);
    expect(records('failed')).toBe(0);
    expect(records('sent')).toBe(emulator.accepted);

    const responses = (status: string) => metric(values, 'backflow_http_responses_total', { destination: 'gamify', status });
    expect([responses('200'), responses('400'), responses('503')]).toEqual([4, 1, 1]);
    expect(metric(values, 'backflow_retries_total', { destination: 'gamify', reason: 'HTTP 503' })).toBe(1);
    // Five records sent at once (concurrency 6) at 20 requests per second: all but the first wait their turn.
    expect(metric(values, 'backflow_rate_limit_waits_total', { destination: 'gamify' })).toBeGreaterThanOrEqual(4);
    expect(metric(values, 'backflow_rate_limit_wait_seconds_total', { destination: 'gamify' })).toBeGreaterThan(0);
    expect(metric(values, 'backflow_runs_total', { sync: 'users', outcome: 'partial' })).toBe(1);
    expect(metric(values, 'backflow_run_duration_seconds_count', { sync: 'users', outcome: 'partial' })).toBe(1);
    expect(metric(values, 'backflow_sync_running', { sync: 'users' })).toBe(0);
    const lastSuccess = metric(values, 'backflow_last_success_timestamp_seconds', { sync: 'users' })!;
    expect(lastSuccess * 1000).toBeGreaterThanOrEqual(startedAt);
    expect(lastSuccess * 1000).toBeLessThanOrEqual(Date.now());

    daemon.signal('SIGTERM');
    expect((await daemon.exited).code).toBe(0);

    // Logs: JSON on every line; run lines carry the sync and the run id; the echoed key is masked.
    expect(daemon.lines.filter((line) => line.level === 'invalid')).toEqual([]);
    const runLines = daemon.lines.filter((line) => ['run started', 'run finished', 'retrying a request'].includes(line.msg));
    expect(runLines.map((line) => line.msg)).toEqual(['run started', 'retrying a request', 'run finished']);
    for (const line of runLines) expect(line).toMatchObject({ sync: 'users', runId: run.id });
    expect(runLines[1]).toMatchObject({ destination: 'gamify', reason: 'HTTP 503', key: '5' });
    expect(finished.rejections).toEqual([{ key: '3', reason: expect.stringContaining('refused for key ***') }]);
    expect(daemon.lines.at(-1)?.msg).toBe('daemon stopped');
    for (const text of [daemon.stderr, daemon.stdout]) {
      expect(text).not.toContain(SECRET_KEY);
      expect(text).not.toContain(Buffer.from(SECRET_KEY).toString('base64'));
    }
  });

  it('counts Segment ingest events accepted and refused, with the reason', async () => {
    const metrics = new DaemonMetrics();
    metrics.ingestEvent('accepted');
    metrics.ingestEvent('accepted');
    metrics.ingestEvent('refused', 'unknown_write_key');
    const values = parseMetrics(await metrics.text());
    expect(metric(values, 'backflow_ingest_events_total', { outcome: 'accepted', reason: '' })).toBe(2);
    expect(metric(values, 'backflow_ingest_events_total', { outcome: 'refused', reason: 'unknown_write_key' })).toBe(1);
  });
});
