// Alerts from `backflow sync`, against real receivers on 127.0.0.1: the exact signed body, one message
// per matching run and none for a good one, the filters, Slack's message, and endpoints that are
// down, slow or failing, none of which changes the run's outcome or the exit code.
import { createHmac } from 'node:crypto';
import path from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SlackWebhookEmulator } from '../../sandbox/slack.js';
import { WebhookReceiver } from '../../sandbox/webhook-receiver.js';
import { gamifyConfig, gamifyWarehouse, runCli, sqliteExec, sqliteRows, writeFile } from '../helpers/index.js';

const API_KEY = 'pk_test_secret_key_123';
const SIGNING_SECRET = 'whsec_9f8e7d6c5b4a39281706f5e4';

async function receiver(): Promise<WebhookReceiver> {
  const started = new WebhookReceiver();
  await started.start();
  onTestFinished(() => started.stop());
  return started;
}

/** The JSON log lines the CLI wrote on stderr. */
function logLines(stderr: string): Record<string, unknown>[] {
  return stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

const verify = (raw: Buffer, header: string | string[] | undefined) => header === `sha256=${createHmac('sha256', SIGNING_SECRET).update(raw).digest('hex')}`;

describe('webhook alerts from backflow sync', () => {
  it('send one signed message per failed, stopped or partial run, with the exact documented body, and none for a good run', async () => {
    const { dir, emulator } = await gamifyWarehouse(3);
    const hook = await receiver();
    const config = writeFile(
      dir,
      'backflow.yaml',
      `${gamifyConfig({ url: emulator.url })}alerts:\n  - { name: oncall, type: webhook, url: "${hook.url}/backflow", secret: "\${ALERT_SECRET}" }\n`,
    );
    const env = { ALERT_SECRET: SIGNING_SECRET };
    const sync = (extra: NodeJS.ProcessEnv = {}) => runCli(['sync', '--config', config], { env: { ...env, ...extra } });

    // 1. Every record confirmed: success, no message.
    const good = await sync();
    expect(good.code).toBe(0);
    expect(hook.posts).toHaveLength(0);

    // 2. The vendor refuses record 2 and echoes the API key in its message: partial, one message.
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Renamed' where id = 2");
    const echo = { status: 'error', code: 'BAD_REQUEST', message: `Invalid request body (email refused for key ${API_KEY})` };
    emulator.inject({ kind: 'status', status: 400, body: echo }, 1, (request) => (request.body as { externalId?: string }).externalId === '2');
    const partial = await sync();
    expect(partial.code).toBe(3);
    expect(hook.posts).toHaveLength(1);

    const [request] = hook.posts;
    expect(request.path).toBe('/backflow');
    expect(request.headers['content-type']).toBe('application/json');
    expect(verify(request.rawBody, request.headers['x-backflow-signature'])).toBe(true);
    const body = JSON.parse(request.rawBody.toString('utf8')) as Record<string, unknown>;
    // The bytes are compact JSON in the documented key order.
    expect(request.rawBody.toString('utf8')).toBe(JSON.stringify(body));
    const [run] = sqliteRows<{ id: number }>(path.join(dir, 'state.db'), "select id from runs where outcome = 'partial'");
    expect(body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      event: 'run.finished',
      test: false,
      sentAt: expect.any(String),
      alert: 'oncall',
      reason: 'outcome',
      sync: 'users',
      destination: 'gamify',
      outcome: 'partial',
      runId: run.id,
      startedAt: expect.any(String),
      finishedAt: expect.any(String),
      durationMs: expect.any(Number),
      counts: { read: 3, added: 0, changed: 1, unchanged: 2, removed: 0, retry: 0, sent: 0, rejected: 1, failed: 0, invalid: 0 },
      refused: 1,
      rejectedAbove: null,
      error: null,
      rejections: [{ key: '2', reason: expect.stringContaining('email refused for key ***') }],
      invalid: [],
      host: expect.any(String),
      via: 'sync',
    });
    expect(Object.keys(body.counts as object)).toEqual(['read', 'added', 'changed', 'unchanged', 'removed', 'retry', 'sent', 'rejected', 'failed', 'invalid']);
    expect(Date.parse(body.finishedAt as string) - Date.parse(body.startedAt as string)).toBe(body.durationMs);
    expect(Date.parse(body.sentAt as string)).toBeGreaterThanOrEqual(Date.parse(body.finishedAt as string));
    expect(request.headers['x-backflow-timestamp']).toBe(String(Math.floor(Date.parse(body.sentAt as string) / 1000)));

    // 3. The key is refused (401): stopped, exit 1, one more message with the error.
    const stopped = await sync({ GAMIFY_KEY: 'pk_test_not_a_valid_key_77' });
    expect(stopped.code).toBe(1);
    expect(hook.posts).toHaveLength(2);
    const second = JSON.parse(hook.posts[1].rawBody.toString('utf8')) as Record<string, unknown>;
    expect(second).toMatchObject({ outcome: 'stopped', counts: expect.objectContaining({ retry: 1, failed: 1 }) });
    expect(second.error).toContain('The sync stopped');
    expect(second.id).not.toBe(body.id);
    expect(verify(hook.posts[1].rawBody, hook.posts[1].headers['x-backflow-signature'])).toBe(true);

    // No secret anywhere: not the API keys, not the signing secret, not the alert URL.
    const everything = [...hook.posts.map((post) => post.rawBody.toString('utf8')), good.stderr, partial.stderr, stopped.stderr, partial.stdout].join('\n');
    for (const secret of [API_KEY, 'pk_test_not_a_valid_key_77', SIGNING_SECRET, `${hook.url}/backflow`]) expect(everything).not.toContain(secret);
    const sent = logLines(partial.stderr).find((line) => line.msg === 'alert sent');
    expect(sent).toMatchObject({ sync: 'users', runId: run.id, alert: 'oncall', type: 'webhook', outcome: 'partial', status: 200, attempts: 1 });
  });

  it('filter by on, syncs and rejectedAbove: each alert gets exactly the runs it asks for', async () => {
    const { dir, emulator } = await gamifyWarehouse(4);
    const hook = await receiver();
    // Records 3 and 4 fail the payload schema (not ISO countries): invalid, never sent; the run is still a success.
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set country = 'zz' where id in (3, 4)");
    const orders = `  - name: orders
    source: warehouse
    query: select * from users where id <= 2
    primaryKey: id
    destination: gamify
    mapping: { externalId: id }
`;
    const alerts = `alerts:
  - { name: default, type: webhook, url: "${hook.url}/default" }
  - { name: orders-only, type: webhook, url: "${hook.url}/orders-only", on: [success], syncs: [orders] }
  - { name: refusals, type: webhook, url: "${hook.url}/refusals", on: [failed], rejectedAbove: 1 }
  - { name: strict, type: webhook, url: "${hook.url}/strict", on: [failed], rejectedAbove: 2 }
  - { name: every-success, type: webhook, url: "${hook.url}/every-success", on: [success, interrupted] }
`;
    const config = writeFile(dir, 'backflow.yaml', `${gamifyConfig({ url: emulator.url }).replace('syncs:\n', `syncs:\n${orders}`)}${alerts}`);
    const result = await runCli(['sync', '--config', config]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Sync users: success');
    expect(result.stdout).toContain('Sync orders: success');

    const got = (alert: string) =>
      hook.bodies.filter((_, index) => hook.posts[index].path === `/${alert}`).map((body) => `${String(body.sync)}:${String(body.reason)}`);
    expect(got('default')).toEqual([]);
    expect(got('orders-only')).toEqual(['orders:outcome']);
    expect(got('refusals')).toEqual(['users:rejectedAbove']);
    expect(got('strict')).toEqual([]);
    expect(got('every-success').sort()).toEqual(['orders:outcome', 'users:outcome']);
    expect(hook.posts).toHaveLength(4);
    const refusals = hook.bodies.find((body) => body.alert === 'refusals')!;
    expect(refusals).toMatchObject({ outcome: 'success', refused: 2, rejectedAbove: 1, invalid: [{ key: '3' }, { key: '4' }] });
  });

  it('never change the outcome or the exit code when an endpoint is down, slow or failing, and say so in the log', async () => {
    const { dir, emulator } = await gamifyWarehouse(3);
    const hook = await receiver();
    const gone = await receiver();
    const goneUrl = `${gone.url}/down`;
    await gone.stop();
    hook.inject({ kind: 'status', status: 500, body: { error: 'receiver broken' } }, 3, (request) => request.path === '/failing');
    hook.inject({ kind: 'status', status: 503 }, 1, (request) => request.path === '/flaky');
    hook.inject({ kind: 'hang' }, 10, (request) => request.path === '/slow');
    emulator.inject({ kind: 'status', status: 400, body: { status: 'error', code: 'BAD_REQUEST', message: 'Invalid request body' } }, 1);
    const alerts = `alerts:
  - { name: down, type: webhook, url: "${goneUrl}" }
  - { name: failing, type: webhook, url: "${hook.url}/failing" }
  - { name: flaky, type: webhook, url: "${hook.url}/flaky" }
  - { name: slow, type: webhook, url: "${hook.url}/slow", timeoutSeconds: 1 }
  - { name: fine, type: webhook, url: "${hook.url}/fine" }
`;
    const config = writeFile(dir, 'backflow.yaml', `${gamifyConfig({ url: emulator.url })}${alerts}`);
    const result = await runCli(['sync', '--config', config]);
    expect(result.code).toBe(3);
    expect(result.stdout).toContain('Sync users: partial');
    expect(sqliteRows(path.join(dir, 'state.db'), 'select outcome from runs')).toEqual([{ outcome: 'partial' }]);

    const logs = logLines(result.stderr).filter((line) => String(line.msg).startsWith('alert'));
    const byAlert = Object.fromEntries(logs.map((line) => [line.alert, line]));
    expect(Object.keys(byAlert).sort()).toEqual(['down', 'failing', 'fine', 'flaky', 'slow']);
    expect(byAlert.down).toMatchObject({ msg: "alert not delivered (the run's outcome is unchanged)", status: null, attempts: 3 });
    expect(byAlert.down.error).toMatch(/^ECONNREFUSED/);
    expect(byAlert.failing).toMatchObject({ status: 500, attempts: 3, error: 'HTTP 500: {"error":"receiver broken"}' });
    expect(byAlert.slow).toMatchObject({ status: null, attempts: 1, error: 'timed out after 1 s' });
    expect(byAlert.flaky).toMatchObject({ msg: 'alert sent', status: 200, attempts: 2 });
    expect(byAlert.fine).toMatchObject({ msg: 'alert sent', status: 200, attempts: 1 });
    // A retry sends the same message, byte for byte: a receiver can drop repeats by id.
    const attempts = (route: string) => hook.posts.filter((post) => post.path === route).map((post) => post.rawBody.toString('utf8'));
    expect(attempts('/failing')).toHaveLength(3);
    expect(new Set(attempts('/failing')).size).toBe(1);
    expect(new Set(attempts('/flaky')).size).toBe(1);
    expect(attempts('/slow')).toHaveLength(1);
    expect(result.stderr).not.toContain(goneUrl);
  });
});

describe('Slack alerts from backflow sync', () => {
  it('post a message Slack accepts, with the sync, outcome, counts and the first rejections, and never show the webhook URL', async () => {
    const { dir, emulator } = await gamifyWarehouse(3);
    const slack = new SlackWebhookEmulator();
    await slack.start();
    onTestFinished(() => slack.stop());
    emulator.inject({ kind: 'status', status: 400, body: { status: 'error', code: 'BAD_REQUEST', message: 'Invalid request body (phone max 20 chars)' } }, 1);
    const config = writeFile(
      dir,
      'backflow.yaml',
      `${gamifyConfig({ url: emulator.url })}alerts:\n  - { name: team, type: slack, url: "\${SLACK_WEBHOOK_URL}" }\n`,
    );
    const result = await runCli(['sync', '--config', config], { env: { SLACK_WEBHOOK_URL: slack.webhookUrl } });
    expect(result.code).toBe(3);
    expect(slack.posted).toHaveLength(1);
    const [message] = slack.posted;
    expect(message.text).toMatch(/^Backflow: users: partial \(run #1\)$/);
    const shown = JSON.stringify(message.blocks);
    expect(shown).toContain(':large_orange_circle: users: partial');
    expect(shown).toContain('*Records*  read 3 · sent 2 · rejected 1 · failed 0 · invalid 0 · unchanged 0');
    expect(shown).toMatch(/\*Rejected or failed records\*\\n• `\d` .*phone max 20 chars/);
    expect(logLines(result.stderr).find((line) => line.msg === 'alert sent')).toMatchObject({ alert: 'team', type: 'slack', status: 200 });
    expect(result.stdout + result.stderr).not.toContain(slack.path.split('/').pop()!);
  });
});
