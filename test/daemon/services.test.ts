// Services started with the daemon (the Segment ingest server is one): started with the loaded
// config and the metrics, stopped on shutdown; a service that cannot start stops the daemon's start.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { runDaemon, type DaemonService } from '../../src/daemon/index.js';
import { createLogger } from '../../src/log.js';
import { sqliteTable, tempDir, users, waitUntil } from '../helpers/index.js';
import { ChangeSignal } from '../helpers/wait.js';
import { daemonConfig, metric, parseMetrics } from './daemon-process.js';

function setup() {
  const dir = tempDir();
  sqliteTable(path.join(dir, 'warehouse.db'), 'users', users(1));
  const text = daemonConfig({ schedule: '0 0 1 1 *' });
  const load = () => parseConfig(text, path.join(dir, 'backflow.yaml'), { GAMIFY_KEY: 'pk_test_services', GAMIFY_URL: 'http://127.0.0.1:9' });
  const lines: Record<string, unknown>[] = [];
  const written = new ChangeSignal();
  const log = createLogger({
    write: (line) => {
      lines.push(JSON.parse(line));
      written.notify();
    },
    readable: false,
    level: 'info',
  });
  /** The first log line with this message, written or to come. */
  const logLine = (msg: string) => waitUntil(`a "${msg}" log line`, () => lines.find((entry) => entry.msg === msg), written);
  return { load, lines, log, logLine };
}

describe('daemon services', () => {
  it('starts each service with the config and metrics, and closes it on SIGTERM', async () => {
    const { load, lines, log, logLine } = setup();
    const events: string[] = [];
    const ingest: DaemonService = {
      name: 'segment ingest',
      async start(loaded, metrics) {
        events.push(`start ${path.basename(loaded.file)}`);
        // What the ingest server reports for each event it receives.
        metrics.ingestEvent('accepted');
        metrics.ingestEvent('refused', 'unknown_write_key');
        return { addresses: ['http://127.0.0.1:8088'], close: async () => void events.push('close') };
      },
    };
    const exits: number[] = [];
    const signalListeners = process.listenerCount('SIGTERM');
    const stopped = runDaemon({ load, services: [ingest], exit: (code) => void exits.push(code), log });

    const started = await logLine('daemon started');
    expect(lines.find((line) => line.msg === 'service started')).toMatchObject({ service: 'segment ingest', addresses: ['http://127.0.0.1:8088'] });
    const values = parseMetrics(await (await fetch(`${started.url as string}/metrics`)).text());
    expect(metric(values, 'backflow_ingest_events_total', { outcome: 'accepted' })).toBe(1);
    expect(metric(values, 'backflow_ingest_events_total', { outcome: 'refused', reason: 'unknown_write_key' })).toBe(1);

    process.emit('SIGTERM');
    expect(await stopped).toBe(0);
    expect(events).toEqual(['start backflow.yaml', 'close']);
    expect(exits).toEqual([]);
    expect(process.listenerCount('SIGTERM')).toBe(signalListeners);
  });

  it('does not start when a service cannot, and says which', async () => {
    const { load, log } = setup();
    const signalListeners = process.listenerCount('SIGTERM');
    const broken: DaemonService = {
      name: 'segment ingest',
      start: async () => {
        throw new Error('cannot listen on 127.0.0.1:8088: the address is in use');
      },
    };
    await expect(runDaemon({ load, services: [broken], exit: () => undefined, log })).rejects.toThrow('cannot listen on 127.0.0.1:8088');
    expect(process.listenerCount('SIGTERM')).toBe(signalListeners);
  });
});
