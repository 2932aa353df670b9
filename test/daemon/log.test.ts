// The logger: JSON lines by default, a readable line on a terminal, secrets masked in both, and
// `backflow sync` logging its retries on stderr while the summary stays on stdout.
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger, readableLine, runLogger } from '../../src/log.js';
import { registerSecrets } from '../../src/redact.js';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { runCli, sqliteTable, tempDir, users, writeFile } from '../helpers/index.js';
import { daemonConfig, SECRET_KEY } from './daemon-process.js';

describe('the logger', () => {
  it('writes one JSON object per line, with the run, and the secrets masked', () => {
    const lines: string[] = [];
    registerSecrets(['sk_live_logger_secret']);
    const log = createLogger({ write: (line) => lines.push(line), readable: false, level: 'info' });
    runLogger('users', 42, log).warn({ reason: 'vendor said: bad key sk_live_logger_secret' }, 'retrying a request');
    log.debug('not shown at info');
    expect(lines).toHaveLength(1);
    expect(lines[0].endsWith('\n')).toBe(true);
    expect(JSON.parse(lines[0])).toMatchObject({ level: 'warn', sync: 'users', runId: 42, reason: 'vendor said: bad key ***', msg: 'retrying a request' });
  });

  it('writes a readable line on a terminal', () => {
    const lines: string[] = [];
    const log = createLogger({ write: (line) => lines.push(line), readable: true, level: 'info' });
    runLogger('users', 7, log).info({ counts: { sent: 5 }, outcome: 'success' }, 'run finished');
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d INFO {2}\[users #7\] run finished counts=\{"sent":5\} outcome=success\n$/);
    expect(readableLine('not json')).toBe('not json');
  });
});

describe('backflow sync logging', () => {
  let emulator: GamifyHostEmulator;
  afterEach(() => emulator.stop());

  it('logs each retry as JSON on stderr with the sync and run, and keeps the summary on stdout', async () => {
    emulator = new GamifyHostEmulator([SECRET_KEY]);
    const dir = tempDir();
    const env = { GAMIFY_KEY: SECRET_KEY, GAMIFY_URL: await emulator.start() };
    sqliteTable(path.join(dir, 'warehouse.db'), 'users', users(3));
    const config = writeFile(dir, 'backflow.yaml', daemonConfig({ schedule: '0 0 1 1 *' }));
    emulator.inject({ kind: 'status', status: 503, body: { message: 'busy' } }, 1, (request) => (request.body as { externalId?: string }).externalId === '2');

    const result = await runCli(['--config', config, 'sync'], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Sync users: success');
    const lines = result.stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line));
    expect(lines).toEqual([
      expect.objectContaining({ level: 'warn', sync: 'users', runId: 1, destination: 'gamify', reason: 'HTTP 503', key: '2', msg: 'retrying a request' }),
    ]);
  });
});
