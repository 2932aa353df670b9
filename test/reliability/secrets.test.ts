// Secrets: with known secret values configured (a destination API key, a database password inside
// a source URL, an ingest write key, an alert's signing secret and Slack URL), every command runs
// down its success and failure paths, and stdout, stderr, the logs, the daemon's HTTP answers, the
// alert messages, the plan file, the state file (and a PostgreSQL state's tables, its URL carrying a
// password of its own) and the event store are scanned: no secret appears,
// in any encoding it travels in.
import Database from 'better-sqlite3';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { SlackWebhookEmulator } from '../../sandbox/slack.js';
import { WebhookReceiver } from '../../sandbox/webhook-receiver.js';
import { DaemonProcess } from '../daemon/daemon-process.js';
import { outputLine, runCli, spawnCli, tempDir, writeFile } from '../helpers/index.js';
import { post } from '../helpers/segment.js';
import { POSTGRES_URL } from '../sources/fixtures.js';

const API_KEY = 'pk_test_Sekr3tGamifyKey_8842';
const DB_PASSWORD = 'Pg-Sekr3t-Pass-5519';
const WRITE_KEY = 'wk_Sekr3tWriteKey_7731';
const ALERT_SECRET = 'whsec_Sekr3tSigning_6620';
const STATE_PASSWORD = 'St4te-Sekr3t-Pass-3317';

/** Every form a secret travels in: as is, URL-encoded, and base64 (Basic auth, with or without the colon). */
const forms = (secret: string) => [secret, encodeURIComponent(secret), Buffer.from(secret).toString('base64'), Buffer.from(`${secret}:`).toString('base64')];
const SECRET_FORMS = [API_KEY, DB_PASSWORD, WRITE_KEY, ALERT_SECRET, STATE_PASSWORD].flatMap(forms);

describe('secrets never appear', () => {
  let dir: string;
  let emulator: GamifyHostEmulator;
  let hook: WebhookReceiver;
  let slack: SlackWebhookEmulator;
  let admin: pg.Client;
  let schema: string;
  /** Everything a user or a log collector could read, by where it came from. */
  const seen: { where: string; text: string }[] = [];

  beforeEach(async () => {
    dir = tempDir();
    emulator = new GamifyHostEmulator([API_KEY]);
    await emulator.start();
    hook = new WebhookReceiver();
    await hook.start();
    slack = new SlackWebhookEmulator();
    await slack.start();
    schema = `bf_${randomBytes(5).toString('hex')}`;
    admin = new pg.Client({ connectionString: POSTGRES_URL });
    await admin.connect();
    await admin.query(`create schema ${schema}; create table ${schema}.users (id int primary key, name text, email text)`);
    await admin.query(`insert into ${schema}.users select i, 'User ' || i, 'user' || i || '@example.com' from generate_series(1, 5) as i`);
  });
  afterEach(async () => {
    await emulator.stop();
    await hook.stop();
    await slack.stop();
    await admin.query(`drop schema ${schema} cascade; drop schema if exists ${schema}_state cascade`);
    await admin.end();
  });

  const env = (overrides: Record<string, string> = {}) => ({
    GAMIFY_KEY: API_KEY,
    WAREHOUSE_URL: `postgres://postgres:${DB_PASSWORD}@127.0.0.1:5432/test?options=-c%20search_path%3D${schema}`,
    SEGMENT_WRITE_KEY: WRITE_KEY,
    ALERT_SECRET,
    SLACK_URL: slack.webhookUrl,
    BACKFLOW_STATE_URL: `postgres://postgres:${STATE_PASSWORD}@127.0.0.1:5432/test`,
    ...overrides,
  });

  const configText = () => `version: 1
state: { path: ./state.db }
daemon: { listen: "127.0.0.1:0" }
sources:
  warehouse: { type: postgres, url: "\${WAREHOUSE_URL}" }
  events: { type: segment, listen: "127.0.0.1:0", writeKeys: ["\${SEGMENT_WRITE_KEY}"], store: ./events.db }
destinations:
  gamify:
    type: gamifyhost
    apiKey: \${GAMIFY_KEY}
    baseUrl: ${emulator.url}
    retry: { attempts: 1, baseDelayMs: 10 }
syncs:
  - name: users
    source: warehouse
    query: select * from users order by id
    primaryKey: id
    destination: gamify
    schedule: "0 0 1 1 *"
    mapping: { externalId: id, displayName: name, email: email }
  - name: visitors
    source: events
    destination: gamify
    schedule: "0 0 1 1 *"
    mapping: { externalId: userId, email: traits.email }
alerts:
  - { name: hook, type: webhook, url: "${hook.url}/in", secret: "\${ALERT_SECRET}", on: [success, partial, failed, stopped, interrupted] }
  - { name: team, type: slack, url: "\${SLACK_URL}", on: [success, partial, failed, stopped, interrupted] }
`;

  async function cli(args: string[], overrides: Record<string, string> = {}, config = path.join(dir, 'backflow.yaml')) {
    const result = await runCli(['--config', config, ...args], { env: { ...env(overrides), BACKFLOW_DEBUG: '1' } });
    seen.push({ where: `${args.join(' ')} stdout`, text: result.stdout }, { where: `${args.join(' ')} stderr`, text: result.stderr });
    return result;
  }

  const echoing = (status: number, key: string) =>
    emulator.inject(
      { kind: 'status', status, body: { status: 'error', message: `key ${API_KEY} (${Buffer.from(`${API_KEY}:`).toString('base64')}) may not update ${key}` } },
      1,
      (request) => (request.body as { externalId: string }).externalId === key,
    );

  it('in any output, log, plan file, state file or event store, on success and failure paths', async () => {
    writeFile(dir, 'backflow.yaml', configText());

    // Success paths.
    expect((await cli(['validate'])).code).toBe(0);
    expect((await cli(['validate', '--connect'])).code).toBe(0);
    expect((await cli(['plan'])).code).toBe(2);
    expect((await cli(['plan', '--json'])).code).toBe(2);
    expect((await cli(['plan', '--out', path.join(dir, 'users.plan'), '--sync', 'users'])).code).toBe(2);
    // The vendor echoes the key back in a rejection and in a failure.
    echoing(400, '2');
    echoing(503, '3');
    const sync = await cli(['sync']);
    expect(sync.code).toBe(3);
    expect(sync.stdout).toContain('✗ 2: HTTP 400: key *** (***) may not update 2');
    expect((await cli(['sync', '--json'])).code).toBe(0);
    for (const command of [['status'], ['status', '--json'], ['runs', '--json'], ['rejected'], ['rejected', '--json']])
      expect((await cli(command)).code).toBe(0);
    expect((await cli(['reset', '--sync', 'users', '--yes'])).code).toBe(0);
    expect((await cli(['plan', '--out', path.join(dir, 'users.plan'), '--sync', 'users'])).code).toBe(2);
    expect((await cli(['sync', '--plan', path.join(dir, 'users.plan')])).code).toBe(0);

    // Failure paths: the vendor refuses the key (echoing it), the database is missing or down,
    // the config is wrong, the plan is stale.
    emulator.inject({ kind: 'status', status: 401, body: { status: 'error', message: `Invalid API key ${API_KEY}` } }, 10);
    await admin.query(`update ${schema}.users set name = name || '!'`);
    expect((await cli(['sync'])).code).toBe(1);
    emulator.clearFaults();
    const base = env().WAREHOUSE_URL;
    expect((await cli(['sync', '--sync', 'users'], { WAREHOUSE_URL: base.replace('/test?', '/no_such_db?') })).code).toBe(1);
    expect((await cli(['plan'], { WAREHOUSE_URL: base.replace(':5432', ':1') })).code).toBe(1);
    expect((await cli(['validate', '--connect'], { WAREHOUSE_URL: base.replace('/test?', '/no_such_db?') })).code).toBe(1);
    expect((await cli(['sync', '--plan', path.join(dir, 'users.plan')])).code).toBe(1);
    const broken = writeFile(
      dir,
      'broken.yaml',
      configText().replace('    retry:', '    apiKeyy: ${GAMIFY_KEY}\n    retry:').replace('primaryKey: id', 'primaryKey: [id]'),
    );
    expect((await cli(['validate'], {}, broken)).code).toBe(1);
    expect((await cli(['sync'], {}, broken)).code).toBe(1);
    expect((await cli(['sync', '--json'], {}, broken)).code).toBe(1);

    // Alerts: a sample to each, and every message the runs above sent (their bodies and Slack's).
    expect((await cli(['alert', 'test'])).code).toBe(0);
    expect((await cli(['alert', 'test', '--json'])).code).toBe(0);
    expect(hook.bodies.some((body) => String(body.error).includes('***'))).toBe(true);
    seen.push({ where: 'webhook alerts', text: hook.posts.map((post) => post.rawBody.toString('utf8')).join('\n') });
    seen.push({ where: 'slack alerts', text: JSON.stringify(slack.posted) });

    // The daemon: its logs and its HTTP answers.
    const daemon = new DaemonProcess(path.join(dir, 'backflow.yaml'), env());
    const url = await daemon.url();
    for (const endpoint of ['/healthz', '/readyz', '/metrics'])
      seen.push({ where: `daemon ${endpoint}`, text: await (await fetch(`${url}${endpoint}`)).text() });
    daemon.signal('SIGTERM');
    await daemon.exited;
    seen.push({ where: 'daemon stdout', text: daemon.stdout }, { where: 'daemon stderr', text: daemon.stderr });

    // `backflow ingest`: a good event, a wrong key, and the key in a body.
    const ingest = spawnCli(['--config', path.join(dir, 'backflow.yaml'), 'ingest'], { env: env() });
    let ingestOut = '';
    ingest.stdout.on('data', (chunk) => (ingestOut += chunk));
    ingest.stderr.on('data', (chunk) => (ingestOut += chunk));
    const [, ingestUrl] = await outputLine(ingest, /listening on (http:\/\/\S+)/, 'backflow ingest to listen');
    const accepted = await post(
      ingestUrl,
      '/v1/identify',
      { userId: 'v1', traits: { email: 'v1@example.com' }, messageId: 'm1', writeKey: WRITE_KEY },
      { auth: null },
    );
    expect(accepted.status).toBe(200);
    const refused = await post(ingestUrl, '/v1/identify', { userId: 'v2', traits: {}, messageId: 'm2' }, { auth: `${WRITE_KEY}x:` });
    expect(refused.status).toBe(401);
    seen.push({ where: 'ingest answers', text: JSON.stringify([accepted, refused]) });
    ingest.kill('SIGTERM');
    await once(ingest, 'exit');
    seen.push({ where: 'ingest output', text: ingestOut });
    expect((await cli(['sync', '--sync', 'visitors'])).code).toBe(0);

    // A PostgreSQL state: a sync with a rejection and a failure echoing the key, the reading commands,
    // then a state server that is down, a database or a user that does not exist; and its tables.
    const pgConfig = writeFile(
      dir,
      'pg-state.yaml',
      configText().replace('state: { path: ./state.db }', `state: { url: "\${BACKFLOW_STATE_URL}", schema: ${schema}_state }`),
    );
    echoing(400, '4');
    echoing(503, '5');
    expect((await cli(['sync', '--sync', 'users'], {}, pgConfig)).code).toBe(3);
    for (const command of [['status'], ['status', '--json'], ['runs', '--json'], ['rejected', '--json'], ['plan']]) await cli(command, {}, pgConfig);
    const stateUrl = env().BACKFLOW_STATE_URL;
    for (const broken of [stateUrl.replace(':5432', ':1'), stateUrl.replace('/test', '/no_such_db'), stateUrl.replace('//postgres:', '//no_such_role:')])
      expect((await cli(['sync', '--sync', 'users'], { BACKFLOW_STATE_URL: broken }, pgConfig)).code).toBe(1);
    for (const table of ['runs', 'run_issues', 'rejections', 'records', 'locks', 'cursors']) {
      const { rows } = await admin.query(`select * from ${schema}_state.${table}`);
      seen.push({ where: `PostgreSQL state ${table}`, text: JSON.stringify(rows) });
    }
    expect(seen.find((entry) => entry.where === 'PostgreSQL state run_issues')?.text).toContain('may not update 4');

    // The files Backflow wrote (the state database with its WAL, the plan, the event store).
    const state = new Database(path.join(dir, 'state.db'));
    state.pragma('wal_checkpoint(truncate)');
    state.close();
    for (const file of fs.readdirSync(dir).filter((name) => /^(state|events)\.db|\.plan$/.test(name))) {
      seen.push({ where: file, text: fs.readFileSync(path.join(dir, file)).toString('latin1') });
    }

    // The secrets were really in use: the destination got the key, the database the password.
    expect(emulator.received.some((request) => request.headers['x-api-key'] === API_KEY)).toBe(true);
    expect(emulator.profile('v1')).toMatchObject({ email: 'v1@example.com' });
    expect(seen.map((entry) => entry.where)).toEqual(expect.arrayContaining(['state.db', 'events.db', 'users.plan']));
    const slackToken = slack.path.split('/').pop()!;
    expect(seen.filter(({ text }) => text.includes(slackToken) || text.includes(`${hook.url}/in`)).map(({ where }) => where)).toEqual([]);
    const leaks = seen.flatMap(({ where, text }) => SECRET_FORMS.filter((secret) => text.includes(secret)).map((secret) => `${where}: ${secret}`));
    expect(leaks).toEqual([]);
    // A backstop for a hang: some 30 CLI runs, a daemon and an ingest server, each a process start.
  }, 600_000);
});
