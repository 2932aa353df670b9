// All six destinations sync the demo warehouse end to end: every user arrives at the vendor's
// emulator, and a second run sends nothing.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildWarehouse } from '../demo/warehouse.js';
import { runSync } from '../src/engine/sync.js';
import { AppizerEmulator } from '../sandbox/appizer.js';
import { FormbricksEmulator } from '../sandbox/formbricks.js';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import type { HttpEmulator } from '../sandbox/http-emulator.js';
import { SegmentEmulator } from '../sandbox/segment.js';
import { UserpilotEmulator } from '../sandbox/userpilot.js';
import { VitallyEmulator } from '../sandbox/vitally.js';
import { tempDir, workspaceFor } from './helpers/index.js';

const USERS = 40;

interface Case {
  type: string;
  emulator: () => HttpEmulator;
  settings: (url: string) => string;
  mapping: string;
  /** How many users the vendor now holds. */
  held: (emulator: HttpEmulator) => number;
}

const cases: Case[] = [
  {
    type: 'gamifyhost',
    emulator: () => new GamifyHostEmulator(['pk_test_demo']),
    settings: (url) => `apiKey: pk_test_demo, baseUrl: "${url}"`,
    mapping: `{ externalId: id, displayName: { template: "{{first_name}} {{last_name}}" }, email: { column: email, transform: [trim, lower] }, country: { column: country, transform: upper }, phone: phone, device: device, tags.plan: plan }`,
    held: (emulator) => (emulator as GamifyHostEmulator).profiles.size,
  },
  {
    type: 'appizer',
    emulator: () => new AppizerEmulator(['apz_demo_key']),
    settings: (url) => `apiKey: apz_demo_key, baseUrl: "${url}"`,
    mapping: `{ user_id: id, email: { column: email, transform: [trim, lower] }, phone: phone, properties.name: first_name, properties.plan: plan, origin.channel: signup_source }`,
    held: (emulator) => (emulator as AppizerEmulator).users.size,
  },
  {
    type: 'vitally',
    emulator: () => new VitallyEmulator('sk_demo_vitally'),
    settings: (url) => `subdomain: demo, token: sk_demo_vitally, baseUrl: "${url}"`,
    mapping: `{ userId: id, accountId: { value: demo-account }, traits.name: { template: "{{first_name}} {{last_name}}" }, traits.email: { column: email, transform: [trim, lower] }, traits.plan: plan }`,
    held: (emulator) => (emulator as VitallyEmulator).users.size,
  },
  {
    type: 'userpilot',
    emulator: () => new UserpilotEmulator(['up_demo_key']),
    settings: (url) => `environment: analytex, apiKey: up_demo_key, baseUrl: "${url}"`,
    mapping: `{ user_id: id, metadata.name: first_name, metadata.email: { column: email, transform: [trim, lower] }, metadata.plan: plan }`,
    held: (emulator) => (emulator as unknown as { users: Map<string, unknown> }).users.size,
  },
  {
    type: 'formbricks',
    emulator: () => new FormbricksEmulator(['env_demo']),
    settings: (url) => `environmentId: env_demo, baseUrl: "${url}"`,
    mapping: `{ userId: id, attributes.email: { column: email, transform: [trim, lower] }, attributes.plan: plan, attributes.country: { column: country, transform: upper } }`,
    held: (emulator) => (emulator as FormbricksEmulator).contacts.size,
  },
  {
    type: 'segment',
    emulator: () => new SegmentEmulator(['wk_demo']),
    settings: (url) => `writeKey: wk_demo, host: "${url}"`,
    mapping: `{ userId: id, traits.name: { template: "{{first_name}} {{last_name}}" }, traits.email: { column: email, transform: [trim, lower] }, traits.plan: plan, timestamp: updated_at }`,
    held: (emulator) => new Set((emulator as SegmentEmulator).identifies.map((message) => message.userId)).size,
  },
];

describe.each(cases)('the demo warehouse synced to $type', ({ type, emulator: create, settings, mapping, held }) => {
  it('delivers every user once, and nothing on a second run', async () => {
    const dir = tempDir();
    buildWarehouse(path.join(dir, 'warehouse.db'), USERS);
    const emulator = create();
    const url = await emulator.start();
    try {
      const workspace = workspaceFor(
        `version: 1
state: { path: ./state.db }
sources: { warehouse: { type: sqlite, path: ./warehouse.db } }
destinations:
  target: { type: ${type}, ${settings(url)}, rateLimit: { requestsPerSecond: 50 } }
syncs:
  - { name: demo-users, source: warehouse, query: select * from users, primaryKey: id, destination: target, mapping: ${mapping} }
`,
        dir,
      );
      const sync = workspace.syncNamed('demo-users');
      const first = await runSync(workspace, sync);
      expect(first).toMatchObject({ outcome: 'success', counts: { read: USERS, sent: USERS, invalid: 0 } });
      expect(held(emulator)).toBe(USERS);
      expect(workspace.state.recordCount('demo-users')).toBe(USERS);

      const requests = emulator.received.length;
      const second = await runSync(workspace, sync);
      expect(second.counts).toMatchObject({ sent: 0, unchanged: USERS });
      expect(emulator.received.length).toBe(requests);
    } finally {
      await emulator.stop();
    }
  });
});
