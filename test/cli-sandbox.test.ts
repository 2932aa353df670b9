// `backflow sandbox`: a user's own config, run end to end against the strict local emulators of its
// destinations. No variable of a destination or alert needs to be set, nothing reaches the URLs the
// config names (a "vendor" emulator here, to prove it), the real state is never created or touched,
// and the emulators' report says what each received.
import { once } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { WebhookReceiver } from '../sandbox/webhook-receiver.js';
import { outputLine, runCli, spawnCli, sqliteTable, tempDir, writeFile, type Row } from './helpers/index.js';

const rows: Row[] = [1, 2, 3, 4, 5].map((id) => ({
  id,
  name: `User ${id}`,
  // Row 3 is invalid for GamifyHost (not an ISO country): the sandbox shows it as the vendor would.
  country: id === 3 ? 'Narnia' : 'NG',
  email: `user${id}@example.com`,
  account_id: `acct-${id}`,
  created_at: '2026-01-05T10:00:00Z',
  company_id: `co-${id}`,
  phone: `+23480000000${id}`,
}));

/** The variables the config reads, for the one real run (the sandbox needs none of them). */
const REAL_ENV = {
  GAMIFY_KEY: 'pk_test_real',
  APPIZER_KEY: 'k',
  VITALLY_SUBDOMAIN: 'acme',
  VITALLY_TOKEN: 't',
  USERPILOT_KEY: 'k',
  FORMBRICKS_ENV: 'env1',
  SEGMENT_KEY: 'k',
};

/** One sync per destination type, every credential and id from a variable the test never sets. */
function allDestinationsConfig(dir: string, vendorUrl: string, alertUrl: string): string {
  sqliteTable(path.join(dir, 'warehouse.db'), 'users', rows);
  const types = ['gamifyhost', 'appizer', 'vitally', 'userpilot', 'formbricks', 'segment'];
  return writeFile(
    dir,
    'backflow.yaml',
    `version: 1
state: { path: ./state.db }
sources:
  warehouse: { type: sqlite, path: ./warehouse.db }
destinations:
  gamify: { type: gamifyhost, apiKey: "\${GAMIFY_KEY}", baseUrl: "${vendorUrl}" }
  appizer: { type: appizer, apiKey: "\${APPIZER_KEY}" }
  vitally: { type: vitally, subdomain: "\${VITALLY_SUBDOMAIN}", token: "\${VITALLY_TOKEN}" }
  userpilot: { type: userpilot, environment: analytex, apiKey: "\${USERPILOT_KEY}" }
  formbricks: { type: formbricks, environmentId: "\${FORMBRICKS_ENV}" }
  segment: { type: segment, writeKey: "\${SEGMENT_KEY}" }
syncs:
${types.map((type) => `  - { name: users-to-${type}, source: warehouse, query: select * from users, primaryKey: id, destination: ${type === 'gamifyhost' ? 'gamify' : type} }`).join('\n')}
alerts:
  - { name: oncall, type: webhook, url: "${alertUrl}", on: [success, partial, failed] }
`,
  );
}

describe('backflow sandbox', () => {
  it('runs sync on the config against an emulator of each destination, with no credential set, and reports what each received', async () => {
    const dir = tempDir();
    const vendor = new GamifyHostEmulator(['pk_live_real_key']);
    const alerts = new WebhookReceiver();
    const config = allDestinationsConfig(dir, await vendor.start(), await alerts.start());
    try {
      const result = await runCli(['--config', config, 'sandbox']);
      // Exit 0: every sendable record confirmed (row 3 is invalid, counted and not sent).
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^Sandbox: nothing goes to a real vendor/);
      expect(result.stdout).toMatch(/gamify \(gamifyhost\) → http:\/\/127\.0\.0\.1:\d+/);
      expect(result.stdout).toContain('Sync users-to-gamifyhost: success');
      expect(result.stdout).toContain('! 3: invalid, not sent: country');
      expect(result.stdout).toMatch(/gamify \(gamifyhost\): 4 requests, 4 accepted, 0 refused; holds 4 profiles/);
      expect(result.stdout).toMatch(/appizer \(appizer\): \d+ requests?, \d+ accepted, 0 refused; holds 5 users/);
      expect(result.stdout).toMatch(/vitally \(vitally\): \d+ requests?, \d+ accepted, 0 refused; holds 5 users/);
      expect(result.stdout).toMatch(/userpilot \(userpilot\): \d+ requests?, \d+ accepted, 0 refused; holds 5 users/);
      expect(result.stdout).toMatch(/formbricks \(formbricks\): \d+ requests?, \d+ accepted, 0 refused; holds 5 contacts/);
      expect(result.stdout).toMatch(/segment \(segment\): \d+ requests?, \d+ accepted, 0 refused; holds 5 messages, 0 dropped/);
      // Nothing reached the URLs the config names, no alert went out, and the real state was never created.
      expect(vendor.received).toHaveLength(0);
      expect(alerts.received).toHaveLength(0);
      expect(fs.existsSync(path.join(dir, 'state.db'))).toBe(false);
    } finally {
      await vendor.stop();
      await alerts.stop();
    }
  });

  it('with --json prints one document: the command’s JSON plus the emulators’ report', async () => {
    const dir = tempDir();
    const vendor = new GamifyHostEmulator();
    const config = allDestinationsConfig(dir, await vendor.start(), 'http://127.0.0.1:9/unused');
    try {
      const result = await runCli(['--config', config, '--json', 'sandbox', '--', 'sync', '--sync', 'users-to-gamifyhost,users-to-segment']);
      expect(result.code).toBe(0);
      const output = JSON.parse(result.stdout) as {
        runs: { sync: string; counts: { sent: number; invalid: number } }[];
        sandbox: { destinations: { destination: string; requests: number; accepted: number; holds: Record<string, number> }[] };
      };
      expect(output.runs.map((run) => [run.sync, run.counts.sent, run.counts.invalid])).toEqual([
        ['users-to-gamifyhost', 4, 1],
        ['users-to-segment', 5, 0],
      ]);
      const gamify = output.sandbox.destinations.find((entry) => entry.destination === 'gamify');
      expect(gamify).toMatchObject({ requests: 4, accepted: 4, holds: { profiles: 4 } });
      // Syncs left out send nothing to their emulators.
      expect(output.sandbox.destinations.find((entry) => entry.destination === 'vitally')).toMatchObject({ requests: 0, holds: { users: 0 } });
      expect(vendor.received).toHaveLength(0);
    } finally {
      await vendor.stop();
    }
  });

  it('starts fresh each time: a second sandbox sync sends everything again, and the real state stays as it was', async () => {
    const dir = tempDir();
    const vendor = new GamifyHostEmulator(['pk_test_real']);
    const config = allDestinationsConfig(dir, await vendor.start(), 'http://127.0.0.1:9/unused');
    try {
      // A real run first, to the "vendor", with its key set: the real state now knows the records.
      const real = await runCli(['--config', config, 'sync', '--sync', 'users-to-gamifyhost'], { env: REAL_ENV });
      expect(real.code).toBe(0);
      const before = fs.readFileSync(path.join(dir, 'state.db'));
      for (let attempt = 0; attempt < 2; attempt++) {
        const result = await runCli(['--config', config, '--json', 'sandbox', '--', 'sync', '--sync', 'users-to-gamifyhost']);
        expect((JSON.parse(result.stdout) as { runs: { counts: { sent: number } }[] }).runs[0].counts.sent).toBe(4);
      }
      expect(vendor.received).toHaveLength(4);
      expect(fs.readFileSync(path.join(dir, 'state.db')).equals(before)).toBe(true);
    } finally {
      await vendor.stop();
    }
  });

  it('runs plan: exit 2, every record would be sent', async () => {
    const dir = tempDir();
    const config = allDestinationsConfig(dir, 'https://api.gamifyhost.com', 'http://127.0.0.1:9/unused');
    const result = await runCli(['--config', config, 'sandbox', 'plan', '--sync', 'users-to-vitally']);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/users-to-vitally/);
    expect(result.stdout).toMatch(/vitally \(vitally\): 0 requests/);
  });

  it('runs the daemon until SIGTERM, which it passes on: the daemon stops cleanly and the report follows', async () => {
    const dir = tempDir();
    const config = allDestinationsConfig(dir, 'https://api.gamifyhost.com', 'http://127.0.0.1:9/unused');
    const child = spawnCli(['--config', config, 'sandbox', '--', 'daemon']);
    let stdout = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    await outputLine(child, /daemon started/, 'the sandbox daemon to start');
    child.kill('SIGTERM');
    const [code] = (await once(child, 'close')) as [number | null];
    expect(code).toBe(0);
    expect(stdout).toContain('The sandbox emulators received:');
    expect(fs.existsSync(path.join(dir, 'state.db'))).toBe(false);
  });

  it('refuses a command that does not send, saying which it runs', async () => {
    const dir = tempDir();
    const config = allDestinationsConfig(dir, 'https://api.gamifyhost.com', 'http://127.0.0.1:9/unused');
    const result = await runCli(['--config', config, 'sandbox', '--', 'status']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('backflow sandbox runs sync, plan, daemon (default sync), not "status"');
  });

  it('reports a broken config as the command would, file:line, and starts nothing', async () => {
    const dir = tempDir();
    const config = writeFile(dir, 'backflow.yaml', 'version: 1\nsources: {}\ndestinations: {}\nsyncs: []\n');
    const result = await runCli(['--config', config, 'sandbox']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/backflow\.yaml:\d+:\d+: syncs: define at least one sync/);
  });
});
