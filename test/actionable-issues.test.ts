// Invalid and rejected records a user can act on: each reason shows the value that failed (never a
// secret), plan and sync group records by reason with a count and example keys, sendable records
// come before invalid ones, a mapping change is said once, and `runs --json` pages its issues.
import path from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { gamifyConfig, gamifyWarehouse, runCli, sqliteExec, writeFile } from './helpers/index.js';

const MAPPING = `      externalId: id
      displayName: name
      country: country
      phone: phone`;

const COUNTRY = 'country: must be an ISO 3166-1 alpha-2 code such as NG, US or GB';

describe('actionable invalid and rejected records', () => {
  let dir: string;
  let emulator: GamifyHostEmulator;
  let config: string;

  // 30 users: 1 holds the API key as its country, 2–21 "Germany", 22 a phone too long; the rest are valid.
  beforeEach(async () => {
    ({ dir, emulator } = await gamifyWarehouse(30));
    const warehouse = path.join(dir, 'warehouse.db');
    sqliteExec(
      warehouse,
      `alter table users add column phone text;
       update users set country = 'NG';
       update users set country = 'Germany' where id between 2 and 21;
       update users set country = 'pk_test_secret_key_123' where id = 1;
       update users set phone = '+44 20 7946 0000 0000 0000' where id = 22;`,
    );
    config = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url, mapping: MAPPING }));
  });

  const cli = (...args: string[]) => runCli(['--config', config, ...args]);

  it('plan groups invalid records by reason with the values they held, after the records it would send', async () => {
    const plan = await cli('plan', '--show', '3');
    expect(plan.code).toBe(2);
    expect(plan.stdout).toContain(`  ! 21 × invalid: ${COUNTRY}; e.g. 1 (got "***"), 2 (got "Germany"), 3 (got "Germany"), …\n`);
    expect(plan.stdout).toContain('  ! 22  invalid: phone: at most 20 characters (got "+44 20 7946 0000 0000 0000")\n');
    // The API key in a row never reaches the output.
    expect(plan.stdout + plan.stderr).not.toContain('pk_test_secret_key_123');
    // What would be sent is listed first; invalid records follow, summarised.
    const lines = plan.stdout.split('\n');
    const firstAdded = lines.findIndex((line) => line.startsWith('  + '));
    const firstInvalid = lines.findIndex((line) => line.startsWith('  ! '));
    expect(firstAdded).toBeGreaterThan(0);
    expect(firstAdded).toBeLessThan(firstInvalid);
    expect(plan.stdout).toContain('  … and 5 more to send or remove (use --show N to list more)\n');

    const json = JSON.parse((await cli('plan', '--json', '--show', '12')).stdout).syncs[0];
    expect(json.records.map((record: { class: string }) => record.class)).toEqual([...Array(8).fill('added'), ...Array(4).fill('invalid')]);
    expect(json.invalidReasons).toEqual([
      {
        reason: COUNTRY,
        count: 21,
        examples: [
          { key: '1', reason: `${COUNTRY} (got "***")` },
          { key: '2', reason: `${COUNTRY} (got "Germany")` },
          { key: '3', reason: `${COUNTRY} (got "Germany")` },
        ],
      },
      {
        reason: 'phone: at most 20 characters',
        count: 1,
        examples: [{ key: '22', reason: 'phone: at most 20 characters (got "+44 20 7946 0000 0000 0000")' }],
      },
    ]);
  });

  it('sync groups invalid and rejected records by reason in its summary', async () => {
    emulator.inject({ kind: 'status', status: 400, body: { status: 'error', message: 'Invalid request body (blocked user)' } }, 3, (request) =>
      ['25', '26', '27'].includes((request.body as { externalId: string }).externalId),
    );
    const sync = await cli('sync');
    expect(sync.code).toBe(3);
    expect(sync.stdout).toContain('  read 30  sent 5  rejected 3  failed 0  unchanged 0  invalid 22  removed 0\n');
    expect(sync.stdout).toMatch(/\n {2}✗ 3 × HTTP 400: Invalid request body \(blocked user\); e\.g\. (25|26|27), (25|26|27), (25|26|27)\n/);
    expect(sync.stdout).toContain(`  ! 21 × invalid, not sent: ${COUNTRY}; e.g. 1 (got "***"), 2 (got "Germany"), 3 (got "Germany"), …\n`);
    expect(sync.stdout).toContain('  ! 22: invalid, not sent: phone: at most 20 characters (got "+44 20 7946 0000 0000 0000")\n');
    expect(sync.stdout).toContain('  every invalid record: backflow runs --sync users --json\n');
    expect(sync.stdout + sync.stderr).not.toContain('pk_test_secret_key_123');
    // The stored reasons carry the values too, and never the secret.
    const issues = JSON.parse((await cli('runs', '--json')).stdout).runs[0].issues as { key: string; reason: string }[];
    expect(issues.find((issue) => issue.key === '2')?.reason).toBe(`${COUNTRY} (got "Germany")`);
    expect(issues.find((issue) => issue.key === '1')?.reason).toBe(`${COUNTRY} (got "***")`);
  });

  it('a mapping change is said once, with the fields it changes, instead of the same diff for every record', async () => {
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set country = 'NG', phone = null");
    expect((await cli('sync')).code).toBe(0);
    // A data change alone is listed record by record, and no mapping change is claimed.
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Renamed' where id = 4");
    const dataOnly = await cli('plan');
    expect(dataOnly.stdout).not.toContain('mapping changed');
    expect(dataOnly.stdout).toContain('      displayName: "User 4" → "Renamed"\n');
    expect((await cli('sync')).code).toBe(0);

    writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url, mapping: `${MAPPING}\n      source: { value: organic }` }));
    const plan = await cli('plan', '--show', '100');
    expect(plan.code).toBe(2);
    expect(plan.stdout.split('The mapping changed since the last run: every record is compared again.')).toHaveLength(2);
    expect(plan.stdout).toContain('  ~ 30 changed; fields that differ: source (30)\n');
    expect(plan.stdout).not.toContain('source: (absent) → "organic"');
    expect(plan.stdout).toContain('Plan: 30 requests to send.');

    // Once a run sent them under the new mapping, the plan no longer says so.
    expect((await cli('sync')).code).toBe(0);
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set name = 'Again' where id = 5");
    const after = await cli('plan');
    expect(after.stdout).not.toContain('mapping changed');
    expect(after.stdout).toContain('      displayName: "User 5" → "Again"\n');
  });

  it('runs --json pages runs and issues and reports their totals', async () => {
    expect((await cli('sync')).code).toBe(0);
    sqliteExec(path.join(dir, 'warehouse.db'), "update users set country = 'France' where id = 30");
    expect((await cli('sync')).code).toBe(0);

    const first = JSON.parse((await cli('runs', '--json', '--limit', '1', '--issues-limit', '5')).stdout);
    expect(first).toMatchObject({ total: 2, offset: 0, nextOffset: 1 });
    expect(first.runs).toHaveLength(1);
    // The newest run: the 22 invalid records are read again, and 30 is invalid now.
    expect(first.runs[0]).toMatchObject({ issueCount: 23, issuesOffset: 0, nextIssuesOffset: 5 });
    expect(first.runs[0].issues).toHaveLength(5);

    const rest = JSON.parse((await cli('runs', '--json', '--limit', '1', '--issues-offset', '20')).stdout).runs[0];
    expect(rest).toMatchObject({ issueCount: 23, issuesOffset: 20 });
    expect(rest).not.toHaveProperty('nextIssuesOffset');
    expect(rest.issues.map((issue: { key: string }) => issue.key)).toEqual(['21', '22', '30']);

    const older = JSON.parse((await cli('runs', '--json', '--offset', '1')).stdout);
    expect(older).toMatchObject({ total: 2, offset: 1 });
    expect(older).not.toHaveProperty('nextOffset');
    expect(older.runs[0]).toMatchObject({ id: first.runs[0].id - 1, issueCount: 22 });

    const one = JSON.parse((await cli('runs', '--json', '--run', String(first.runs[0].id), '--issues-limit', '1')).stdout);
    expect(one).toMatchObject({ total: 1, runs: [{ id: first.runs[0].id, issueCount: 23, nextIssuesOffset: 1 }] });
    const missing = await cli('runs', '--run', '999');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('there is no run 999');

    const table = await cli('runs', '--limit', '1');
    expect(table.stdout).toContain('runs 1–1 of 2; older ones: --offset 1\n');
  });
});
