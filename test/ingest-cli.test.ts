// The segment source in the config (its defaults, its errors, its secrets) and `backflow ingest` as a
// user runs it: serving, refusing loudly, and stopping cleanly on SIGTERM.
import { once } from 'node:events';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { outputLine, runCli, spawnCli, tempDir, writeFile } from './helpers/index.js';
import { NO_SYNCS, post, segmentConfig, WRITE_KEY } from './helpers/segment.js';

const env = { SEGMENT_WRITE_KEY: WRITE_KEY };

function configErrors(text: string): string[] {
  try {
    parseConfig(text, 'backflow.yaml', env);
  } catch (error) {
    if (error instanceof ConfigError) return error.message.split('\n');
    throw error;
  }
  return [];
}

describe('a segment source in the config', () => {
  it('gives its syncs userId as the key and changeSeq as the cursor, and treats write keys as secrets', () => {
    const dir = tempDir();
    const loaded = parseConfig(
      `version: 1
sources:
  events: { type: segment, writeKeys: ["\${SEGMENT_WRITE_KEY}"] }
${NO_SYNCS}`,
      path.join(dir, 'backflow.yaml'),
      env,
    );
    expect(loaded.config.syncs[0]).toMatchObject({ primaryKey: 'userId', cursor: 'changeSeq' });
    expect(loaded.config.sources.events).toEqual({
      type: 'segment',
      listen: '127.0.0.1:8088',
      writeKeys: [WRITE_KEY],
      store: './.backflow/events.db',
      retention: '30d',
    });
    expect(loaded.secrets).toContain(WRITE_KEY);
  });

  it('refuses a query on a segment sync, a SQL sync without primaryKey, and an empty write key list', () => {
    expect(
      configErrors(`version: 1
sources:
  events: { type: segment, writeKeys: [] }
  warehouse: { type: sqlite, path: ./w.db }
destinations:
  gamify: { type: gamifyhost, apiKey: pk_test_x }
syncs:
  - name: from-events
    source: events
    query: select 1
    destination: gamify
    mapping: { externalId: userId }
  - name: from-warehouse
    source: warehouse
    query: select id from users
    destination: gamify
    mapping: { externalId: id }
`),
    ).toEqual([
      'backflow.yaml:3:39: sources.events.writeKeys: list at least one write key',
      'backflow.yaml:10:12: syncs[0].query: a segment source takes no query: remove it',
      'backflow.yaml:13:5: syncs[1].primaryKey: required: primaryKey, the column that identifies a record (e.g. primaryKey: id)',
    ]);
  });
});

describe('backflow ingest', () => {
  it('serves until SIGTERM, reports refusals without the key, then stops cleanly with a summary', async () => {
    const dir = tempDir();
    const file = segmentConfig(dir, NO_SYNCS);
    const child = spawnCli(['--config', file, 'ingest'], { env });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const exited = once(child, 'exit');
    child.stdout.on('data', (chunk) => (stdout += chunk));
    const [, url] = await outputLine(child, /listening on (http:\/\/\S+)/, 'backflow ingest to listen');
    expect(stdout).toMatch(/^source events: listening on http:\/\/127\.0\.0\.1:\d+ \(POST \/v1\/batch/);

    expect((await post(url, '/v1/identify', { userId: 'u1', traits: { plan: 'pro' } })).status).toBe(200);
    expect((await post(url, '/v1/track', { userId: 'u1', event: 'Paid', messageId: 'once' })).status).toBe(200);
    expect((await post(url, '/v1/track', { userId: 'u1', event: 'Paid', messageId: 'once' })).status).toBe(200);
    expect((await post(url, '/v1/track', { userId: 'u1' })).status).toBe(400);
    expect((await post(url, '/v1/track', { userId: 'u1', event: 'Paid', writeKey: `${WRITE_KEY}-old` }, { auth: null })).status).toBe(401);

    child.kill('SIGTERM');
    const [code] = await exited;
    expect(code).toBe(0);
    expect(stdout).toContain('stopped: 3 messages accepted (1 of them duplicates), 2 refused');
    expect(stderr).toBe(
      'refused: track needs event: the event name, a non-empty string\n' +
        "refused: unknown write key in the body: use a key listed in the source's writeKeys\n",
    );
  });

  it('says so when the config has no segment source', async () => {
    const dir = tempDir();
    writeFile(
      dir,
      'backflow.yaml',
      `version: 1
sources:
  warehouse: { type: sqlite, path: ./w.db }
destinations:
  gamify: { type: gamifyhost, apiKey: pk_test_x }
syncs:
  - { name: users, source: warehouse, query: select 1 as id, primaryKey: id, destination: gamify, mapping: { externalId: id } }
`,
    );
    const result = await runCli(['--config', path.join(dir, 'backflow.yaml'), 'ingest']);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `error: ${path.join(dir, 'backflow.yaml')} has no segment source: add one under sources (type: segment, listen, writeKeys) to serve Segment events\n`,
    );
  });
});
