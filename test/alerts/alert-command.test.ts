// `backflow alert test` sends a sample message a user can watch arrive, and reports what the endpoint
// answered; and no alert ever carries a secret, even when a failing query echoes a database password.
import { createHmac } from 'node:crypto';
import { describe, expect, it, onTestFinished } from 'vitest';
import { SlackWebhookEmulator } from '../../sandbox/slack.js';
import { WebhookReceiver } from '../../sandbox/webhook-receiver.js';
import { gamifyConfig, gamifyWarehouse, runCli, tempDir, writeFile } from '../helpers/index.js';

const SIGNING_SECRET = 'whsec_Alert_Test_Secret_5566';

async function started<T extends { start(): Promise<string>; stop(): Promise<void> }>(server: T): Promise<T> {
  await server.start();
  onTestFinished(() => server.stop());
  return server;
}

describe('backflow alert test', () => {
  it('sends a signed sample to a webhook and a Slack channel, reports each status, and exits 1 when one is refused', async () => {
    const { dir, emulator } = await gamifyWarehouse(1);
    const hook = await started(new WebhookReceiver());
    const slack = await started(new SlackWebhookEmulator());
    const alerts = `alerts:
  - { name: oncall, type: webhook, url: "${hook.url}/in", secret: "${SIGNING_SECRET}" }
  - { name: team, type: slack, url: "\${SLACK_URL}" }
  - { name: old-channel, type: slack, url: "${slack.url}/services/T0/B0/revoked" }
`;
    const config = writeFile(dir, 'backflow.yaml', `${gamifyConfig({ url: emulator.url })}${alerts}`);
    const env = { SLACK_URL: slack.webhookUrl };

    const one = await runCli(['alert', 'test', '--alert', 'oncall', '--config', config], { env });
    expect(one.code).toBe(0);
    expect(one.stdout).toMatch(/^alert "oncall" \(webhook\): delivered, HTTP 200 \(1 attempt, \d+ ms\)\n$/);
    expect(hook.posts).toHaveLength(1);
    const [post] = hook.posts;
    expect(post.headers['x-backflow-signature']).toBe(`sha256=${createHmac('sha256', SIGNING_SECRET).update(post.rawBody).digest('hex')}`);
    expect(hook.bodies[0]).toMatchObject({
      test: true,
      via: 'alert test',
      alert: 'oncall',
      sync: 'users',
      outcome: 'failed',
      runId: 0,
      error: 'This is a test message from backflow alert test: no run failed.',
      rejections: [{ key: 'example-1', reason: 'HTTP 400: an example rejection reason' }],
    });

    const all = await runCli(['alert', 'test', '--config', config, '--json'], { env });
    expect(all.code).toBe(1);
    const report = JSON.parse(all.stdout) as { alerts: { alert: string; delivered: boolean; status: number | null; reason?: string }[] };
    expect(report.alerts.map(({ alert, delivered, status, reason }) => ({ alert, delivered, status, reason }))).toEqual([
      { alert: 'oncall', delivered: true, status: 200, reason: undefined },
      { alert: 'team', delivered: true, status: 200, reason: undefined },
      { alert: 'old-channel', delivered: false, status: 404, reason: 'HTTP 404: no_service' },
    ]);
    expect(slack.posted).toHaveLength(1);
    expect(slack.posted[0].text).toBe('Backflow: [test] users: failed (run #0)');
    expect(all.stdout + all.stderr).not.toContain(slack.path.split('/').pop()!);
    expect(hook.posts).toHaveLength(2);
  });

  it('names the closest alert for a misspelt --alert, and says when the config has none', async () => {
    const { dir, emulator } = await gamifyWarehouse(1);
    const withAlerts = writeFile(
      dir,
      'backflow.yaml',
      `${gamifyConfig({ url: emulator.url })}alerts:\n  - { name: oncall, type: webhook, url: "http://127.0.0.1:9/x" }\n`,
    );
    const wrong = await runCli(['alert', 'test', '--alert', 'on-call', '--config', withAlerts]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain('error: no alert named "on-call": did you mean "oncall"? (defined: oncall)');

    const without = writeFile(dir, 'plain.yaml', gamifyConfig({ url: emulator.url }));
    const none = await runCli(['alert', 'test', '--config', without]);
    expect(none.code).toBe(1);
    expect(none.stderr).toContain('defines no alerts: add an alerts: list');
  });
});

describe('no secret in an alert', () => {
  it('redacts a database password that a failing query echoes, in the webhook body, the Slack message and the logs', async () => {
    const dir = tempDir();
    const password = 'Pg-Alert-Sekr3t-Pw-4471';
    const hook = await started(new WebhookReceiver());
    const slack = await started(new SlackWebhookEmulator());
    const config = writeFile(
      dir,
      'backflow.yaml',
      `${gamifyConfig({
        url: 'http://127.0.0.1:9',
        source: '{ type: postgres, url: "${WAREHOUSE_URL}" }',
        query: `select * from "missing_${password}"`,
      })}alerts:
  - { name: oncall, type: webhook, url: "${hook.url}/in", secret: "${SIGNING_SECRET}" }
  - { name: team, type: slack, url: "\${SLACK_URL}" }
`,
    );
    const result = await runCli(['sync', '--config', config], {
      env: { WAREHOUSE_URL: `postgres://postgres:${password}@127.0.0.1:5432/test`, SLACK_URL: slack.webhookUrl },
    });
    expect(result.code).toBe(1);
    expect(hook.bodies).toHaveLength(1);
    expect(hook.bodies[0]).toMatchObject({ outcome: 'failed', error: expect.stringContaining('missing_***') });
    expect(slack.posted).toHaveLength(1);
    expect(JSON.stringify(slack.posted[0])).toContain('missing_***');
    const everything = [hook.posts[0].rawBody.toString('utf8'), JSON.stringify(slack.posted), result.stdout, result.stderr].join('\n');
    for (const secret of [password, encodeURIComponent(password), SIGNING_SECRET, slack.webhookUrl, slack.path.split('/').pop()!]) {
      expect(everything).not.toContain(secret);
    }
  });
});
