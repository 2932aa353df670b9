// Config loading: every problem reported at once, with file:line:column and what was expected.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { connectors } from '../connectors/index.js';
import { parseConfig } from '../src/config/load.js';
import { ConfigError } from '../src/errors.js';
import { fieldExists } from '../src/config/payload-fields.js';
import { schemaText, SCHEMA_FILE } from '../src/config/json-schema.js';
import { REPO, runCli, tempDir, writeFile } from './helpers/index.js';

const VALID = `version: 1
sources:
  warehouse:
    type: sqlite
    path: ./warehouse.db
destinations:
  gamify:
    type: gamifyhost
    apiKey: \${GAMIFY_KEY}
syncs:
  - name: users
    source: warehouse
    query: select * from users
    primaryKey: id
    destination: gamify
    schedule: "*/15 * * * *"
    mapping:
      externalId: id
      country: { column: country, transform: upper }
`;

function issuesOf(text: string, env: NodeJS.ProcessEnv = { GAMIFY_KEY: 'pk_test_x' }) {
  try {
    parseConfig(text, 'backflow.yaml', env);
  } catch (error) {
    if (error instanceof ConfigError) return error.issues.map((issue) => `${issue.line}:${issue.column} ${issue.path}: ${issue.message}`);
    throw error;
  }
  return [];
}

describe('a valid config', () => {
  it('loads with defaults filled in and env vars interpolated', () => {
    const loaded = parseConfig(VALID, '/etc/backflow/backflow.yaml', { GAMIFY_KEY: 'pk_test_abc' });
    const destination = loaded.config.destinations.gamify;
    expect(destination.apiKey).toBe('pk_test_abc');
    expect(destination.baseUrl).toBe('https://api.gamifyhost.com');
    expect(destination.retry).toEqual({ attempts: 5, baseDelayMs: 500, maxDelaySeconds: 60 });
    expect(loaded.statePath).toBe('/etc/backflow/.backflow/state.db');
    expect(loaded.secrets).toContain('pk_test_abc');
  });

  it('uses ${VAR:-default} when the variable is unset, and accepts numbers given as env text', () => {
    const text = VALID.replace('type: gamifyhost', 'type: gamifyhost\n    concurrency: ${CONCURRENCY:-3}');
    const loaded = parseConfig(text, 'backflow.yaml', { GAMIFY_KEY: 'pk_test_abc' });
    expect((loaded.config.destinations.gamify as { concurrency: number }).concurrency).toBe(3);
  });

  it('collects the password of a source URL as a secret', () => {
    const text = VALID.replace('type: sqlite\n    path: ./warehouse.db', 'type: postgres\n    url: postgres://reader:s3cr3t-pw@db:5432/dw');
    expect(parseConfig(text, 'b.yaml', { GAMIFY_KEY: 'pk_test_abc' }).secrets).toEqual(expect.arrayContaining(['s3cr3t-pw']));
  });
});

describe('a broken config', () => {
  it('names an unset env var at its line and column', () => {
    expect(issuesOf(VALID, {})).toEqual([
      '9:13 destinations.gamify.apiKey: environment variable GAMIFY_KEY is not set: export it, or give a default with ${GAMIFY_KEY:-value}',
    ]);
  });

  it('reports unknown keys, wrong types, bad references, bad cron and unknown fields all in one pass', () => {
    const broken = VALID.replace('    path: ./warehouse.db', '    path: ./warehouse.db\n    colour: blue')
      .replace('destination: gamify', 'destination: gamfy')
      .replace('*/15 * * * *', 'every day')
      .replace('primaryKey: id', 'primaryKey: 42\n    batchSize: lots')
      .replace('country: { column: country, transform: upper }', 'country: { column: country, transform: uppercase }\n      nickname: name');
    expect(issuesOf(broken)).toEqual([
      '6:5 sources.warehouse.colour: unknown key "colour": remove it or check its spelling',
      '15:17 syncs[0].primaryKey: expected string, received number',
      '16:16 syncs[0].batchSize: must be a whole number',
      '17:18 syncs[0].destination: no destination named "gamfy": expected one of gamify',
      '18:15 syncs[0].schedule: "every day" is not a valid cron expression: expected 5 fields (minute hour day month weekday) or 6 with seconds first, e.g. "*/15 * * * *"',
      '21:46 syncs[0].mapping.country.transform: unknown transform "uppercase": expected one of upper, lower, trim, string, number, integer, boolean, iso8601, date, json',
    ]);
  });

  it('rejects a mapping to a field the destination does not have, listing the fields it has', () => {
    const issues = issuesOf(VALID.replace('externalId: id', 'externalId: id\n      nickname: name'));
    expect(issues).toEqual([
      expect.stringMatching(
        /^19:17 syncs\[0\]\.mapping\.nickname: gamifyhost has no field "nickname": expected one of externalId, displayName, email, phone, country, device, source, tags, metadata$/,
      ),
    ]);
  });

  it('accepts any key under an open object field such as tags', () => {
    expect(issuesOf(VALID.replace('externalId: id', 'externalId: id\n      tags.anything.deep: plan'))).toEqual([]);
  });

  it('names a missing source and an unknown source type', () => {
    const issues = issuesOf(VALID.replace('source: warehouse', 'source: lake').replace('type: sqlite', 'type: oracle'));
    expect(issues).toEqual([
      expect.stringMatching(/^4:11 sources\.warehouse\.type: unknown source type: expected one of sqlite, postgres/),
      expect.stringMatching(/^12:13 syncs\[0\]\.source: no source named "lake": expected one of warehouse$/),
    ]);
  });

  it('reports a missing required key at its parent', () => {
    expect(issuesOf(VALID.replace('    primaryKey: id\n', ''))).toEqual([expect.stringMatching(/^11:5 syncs\[0\]\.primaryKey: required/)]);
  });

  it('reports YAML syntax errors with their position', () => {
    expect(issuesOf('version: 1\nsources: [\n')[0]).toMatch(/^\d+:\d+ : YAML syntax:/);
  });

  it('refuses duplicate sync names and a mapping with two forms', () => {
    const twice = `${VALID}  - name: users\n    source: warehouse\n    query: select 1\n    primaryKey: id\n    destination: gamify\n    mapping:\n      externalId: { column: id, value: 3 }\n`;
    expect(issuesOf(twice)).toEqual([
      '20:11 syncs[1].name: another sync is already named "users"',
      '26:19 syncs[1].mapping.externalId: a mapping takes one of column, value or template, not column and value',
    ]);
  });
});

describe('backflow validate', () => {
  it('prints file:line:column errors, exits 1, and never prints a secret', async () => {
    const dir = tempDir();
    const file = writeFile(dir, 'backflow.yaml', VALID.replace('primaryKey: id', 'primaryKey: [id]'));
    const result = await runCli(['--config', file, 'validate'], { env: { GAMIFY_KEY: 'pk_live_topsecret_value' } });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`${file}:14:17: syncs[0].primaryKey: expected string, received array`);
    expect(result.stdout + result.stderr).not.toContain('topsecret');
  });

  it('says valid and exits 0 for a good config', async () => {
    const dir = tempDir();
    const file = writeFile(dir, 'backflow.yaml', VALID);
    const result = await runCli(['--config', file, 'validate'], { env: { GAMIFY_KEY: 'pk_test_x' } });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('valid (1 sync)');
  });

  it('explains a missing config file', async () => {
    const result = await runCli(['--config', '/nonexistent/backflow.yaml', 'validate']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(
      '/nonexistent/backflow.yaml:1:1: cannot read the config: file not found (pass --config PATH, or start from config.example.yaml)',
    );
  });

  it('with --connect, reports mapping columns the query does not return', async () => {
    const dir = tempDir();
    const { sqliteTable } = await import('./helpers/index.js');
    sqliteTable(path.join(dir, 'warehouse.db'), 'users', [{ id: 1, name: 'A' }]);
    const file = writeFile(dir, 'backflow.yaml', VALID);
    const result = await runCli(['--config', file, 'validate', '--connect'], { env: { GAMIFY_KEY: 'pk_test_x' } });
    expect(result.code).toBe(1);
    expect(result.stdout).toContain('sync "users": the query returns no column "country" (it returns: id, name)');
  });
});

describe('the published JSON Schema', () => {
  it('is exactly what the zod schema generates (run npm run schema after changing the config schema)', () => {
    expect(fs.readFileSync(path.join(REPO, SCHEMA_FILE), 'utf8')).toBe(schemaText());
  });

  it('describes connector settings for editors', () => {
    expect(schemaText()).toContain('Public key (pk_live_… or pk_test_…)');
  });
});

describe('config.example.yaml', () => {
  it('is a valid config with one sync to each destination type', () => {
    const env = Object.fromEntries(
      [
        'WAREHOUSE_URL',
        'SEGMENT_WRITE_KEY',
        'GAMIFYHOST_API_KEY',
        'APPIZER_API_KEY',
        'VITALLY_TOKEN',
        'USERPILOT_API_KEY',
        'FORMBRICKS_ENVIRONMENT_ID',
        'SEGMENT_DESTINATION_WRITE_KEY',
      ].map((name) => [name, name === 'WAREHOUSE_URL' ? 'postgres://reader:pw@127.0.0.1:5432/test' : `value-of-${name.toLowerCase()}`]),
    );
    const loaded = parseConfig(fs.readFileSync(path.join(REPO, 'config.example.yaml'), 'utf8'), 'config.example.yaml', env);
    const types = loaded.config.syncs.map((sync) => (loaded.config.destinations[sync.destination] as { type: string }).type);
    expect(new Set(types)).toEqual(new Set(['gamifyhost', 'appizer', 'vitally', 'userpilot', 'formbricks', 'segment']));
  });
});

describe('a sync without a mapping', () => {
  it("uses its connector's suggested mapping", () => {
    const loaded = parseConfig(VALID.replace(/ {4}mapping:\n( {6}.*\n)+/, ''), 'backflow.yaml', { GAMIFY_KEY: 'pk_test_x' });
    expect(loaded.config.syncs[0].mapping).toEqual({ externalId: 'id', displayName: 'name', email: 'email', country: 'country' });
  });

  it.each(Object.values(connectors))('$type suggests only fields its payload has', (connector) => {
    for (const target of Object.keys(connector.defaults.mapping)) expect(fieldExists(connector.payload, target)).toBeUndefined();
  });
});
