// The alerts: section of a config: defaults, every mistake reported at its file:line:column with what
// to write instead, and the alert URL and signing secret treated as secrets from the start.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { runCli, tempDir, writeFile } from '../helpers/index.js';

const SLACK_URL = 'https://hooks.slack.com/services/T0SECRET/B0SECRET/zq8Wv3Kp6Lx2Nd5Rt7Ym9Hc4';
const SIGNING_SECRET = 'whsec_Sekr3t_Signing_0011223344';

const base = (alerts: string) => `version: 1
sources:
  warehouse: { type: sqlite, path: ./warehouse.db }
destinations:
  gamify: { type: gamifyhost, apiKey: pk_test_x }
syncs:
  - name: users
    source: warehouse
    query: select * from users
    primaryKey: id
    destination: gamify
    mapping: { externalId: id }
  - name: orders
    source: warehouse
    query: select * from orders
    primaryKey: id
    destination: gamify
    mapping: { externalId: id }
alerts:
${alerts}`;

const env = { SLACK_URL, SIGNING_SECRET };

function issuesOf(text: string) {
  try {
    parseConfig(text, 'backflow.yaml', env);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((issue) => `${issue.line}:${issue.column} ${issue.path}: ${issue.message}`);
    throw error;
  }
  return [];
}

describe('a valid alerts section', () => {
  it('fills the defaults: failed, stopped and partial, every sync, a 5 s budget; and none when left out', () => {
    const loaded = parseConfig(base('  - { name: oncall, type: webhook, url: "https://hooks.example.com/backflow" }'), 'backflow.yaml', env);
    expect(loaded.config.alerts).toEqual([
      { name: 'oncall', type: 'webhook', url: 'https://hooks.example.com/backflow', on: ['failed', 'stopped', 'partial'], timeoutSeconds: 5 },
    ]);
    const none = parseConfig(base('').replace('alerts:\n', ''), 'backflow.yaml', env);
    expect(none.config.alerts).toEqual([]);
  });

  it('takes on, syncs, rejectedAbove (also as env text) and a secret, and registers the URL and the secret as secrets', () => {
    const loaded = parseConfig(
      base(`  - name: oncall
    type: webhook
    url: https://hooks.example.com/backflow
    secret: \${SIGNING_SECRET}
    on: [failed, interrupted, success]
    syncs: [orders]
    rejectedAbove: "\${LIMIT:-25}"
  - { name: team, type: slack, url: "\${SLACK_URL}" }`),
      'backflow.yaml',
      env,
    );
    expect(loaded.config.alerts[0]).toMatchObject({ on: ['failed', 'interrupted', 'success'], syncs: ['orders'], rejectedAbove: 25, secret: SIGNING_SECRET });
    expect(loaded.secrets).toEqual(expect.arrayContaining([SLACK_URL, SIGNING_SECRET, 'https://hooks.example.com/backflow']));
  });
});

describe('a broken alerts section', () => {
  it('reports each mistake at its position: URL, outcome, unknown sync with the closest names, type, numbers, names', () => {
    const issues = issuesOf(
      base(`  - name: oncall
    type: webhook
    url: hooks.example.com/backflow
    on: [failed, broken]
    syncs: [usres, orders, nothing]
    rejectedAbove: -1
    timeoutSeconds: 60
  - name: oncall
    type: slack
    url: ftp://hooks.slack.com/x
    secret: \${SIGNING_SECRET}
  - name: email
    type: email
    url: https://example.com
  - { name: short, type: webhook, url: "https://example.com", secret: abc, on: [] }`),
    );
    expect(issues).toEqual([
      '22:10 alerts[0].url: expected an http:// or https:// URL, e.g. https://hooks.slack.com/services/…',
      '23:18 alerts[0].on[1]: unknown outcome "broken": expected one of success, partial, failed, stopped, interrupted',
      '24:13 alerts[0].syncs[0]: no sync named "usres": did you mean "users"? (defined: users, orders)',
      '24:28 alerts[0].syncs[2]: no sync named "nothing" (defined: users, orders)',
      '25:20 alerts[0].rejectedAbove: must be 0 or more',
      '26:21 alerts[0].timeoutSeconds: at most 30: an alert must never hold up a run',
      '27:11 alerts[1].name: another alert is already named "oncall"',
      '29:10 alerts[1].url: expected an http:// or https:// URL, e.g. https://hooks.slack.com/services/…',
      '30:5 alerts[1].secret: unknown key "secret": remove it or check its spelling',
      '32:11 alerts[2].type: unknown alert type: expected webhook or slack',
      '34:71 alerts[3].secret: a signing secret needs at least 16 characters, e.g. the output of: openssl rand -hex 32',
      '34:80 alerts[3].on: list at least one outcome, e.g. on: [failed, stopped]',
    ]);
  });

  it('through backflow validate: positions, exit 1, and neither the Slack URL nor the secret printed', async () => {
    const dir = tempDir();
    const file = writeFile(
      dir,
      'backflow.yaml',
      base(`  - { name: team, type: slack, url: "\${SLACK_URL}", syncs: [user] }
  - { name: hook, type: webhook, url: "slack:\${SLACK_URL}", secret: "\${SIGNING_SECRET}", on: [failed] }`),
    );
    const result = await runCli(['validate', '--config', file], { env });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${file}:20:61: alerts[0].syncs[0]: no sync named "user": did you mean "users"? (defined: users, orders)`);
    expect(result.stderr).toContain(`${file}:21:39: alerts[1].url: expected an http:// or https:// URL`);
    expect(result.stdout + result.stderr).not.toContain('zq8Wv3Kp6Lx2Nd5Rt7Ym9Hc4');
    expect(result.stdout + result.stderr).not.toContain(SIGNING_SECRET);
  });
});
