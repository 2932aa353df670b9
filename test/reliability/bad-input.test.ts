// Bad input corpus: malformed YAML, wrong types, huge values, unicode and emoji in every field, SQL
// that is not a read, and oversized or malformed ingest payloads. Each bad input gets a clear,
// positioned message (or a clear per-record outcome) and nothing crashes; good unusual input works.
import path from 'node:path';
import zlib from 'node:zlib';
import { beforeEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';
import { planSync } from '../../src/engine/plan.js';
import { runSync } from '../../src/engine/sync.js';
import { GamifyHostEmulator } from '../../sandbox/gamifyhost.js';
import { gamifyConfig, gamifyWarehouse, runCli, sqliteRows, sqliteTable, tempDir, users, workspaceFor, writeFile } from '../helpers/index.js';
import { ingestFor, NO_SYNCS, post, readProfiles, segmentConfig, storePath } from '../helpers/segment.js';
import type { InvalidRecord } from '../../src/plan/classify.js';

const VALID = `version: 1
sources:
  warehouse: { type: sqlite, path: ./warehouse.db }
destinations:
  gamify: { type: gamifyhost, apiKey: pk_test_abc }
syncs:
  - name: users
    source: warehouse
    query: select * from users
    primaryKey: id
    destination: gamify
    mapping: { externalId: id, email: email }
`;

/** The config's problems as `line:column path: message`, or [] when it loads. Any other throw fails the test. */
function problems(text: string): string[] {
  try {
    parseConfig(text, 'backflow.yaml', {});
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.issues.map((issue) => `${issue.line}:${issue.column} ${issue.path}: ${issue.message}`);
  }
}

describe('malformed YAML', () => {
  const corpus: [string, string][] = [
    ['an unclosed flow sequence', 'version: 1\nsources: [\n'],
    ['an unclosed quote', 'version: 1\nstate: { path: "./state.db }\n'],
    ['a tab used for indentation', 'version: 1\nsources:\n\twarehouse: {}\n'],
    ['a duplicated key', VALID.replace('version: 1', 'version: 1\nversion: 1')],
    ['a key without a value separator', 'version 1\nsources\n'],
    ['an alias to no anchor', 'version: 1\nsources: *missing\n'],
    ['a bad indentation', 'version: 1\nsources:\n  a: 1\n b: 2\n'],
    ['binary garbage', '\u0000\u0001\u0002\uFFFE\u0007garbage: [}\n'],
    ['two documents', `${VALID}---\n${VALID}`],
    ['deep nesting', `version: 1\nsources: ${'['.repeat(5000)}${']'.repeat(4999)}\n`],
    [
      'an alias bomb',
      `version: 1\na: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n`,
    ],
  ];
  it.each(corpus)('%s is refused with a positioned message', (_name, text) => {
    const found = problems(text);
    expect(found.length).toBeGreaterThan(0);
    for (const problem of found) expect(problem).toMatch(/^\d+:\d+ [^:]*: \S/);
    expect(found.join('\n')).not.toMatch(/undefined|\[object Object\]/);
  });

  const empty: [string, string][] = [
    ['an empty file', ''],
    ['only a comment', '# nothing here\n'],
  ];
  it.each(empty)('%s points at config.example.yaml', (_name, text) => {
    expect(problems(text)).toEqual(['1:1 : the config file is empty: start from config.example.yaml (cp config.example.yaml backflow.yaml) and edit it']);
  });

  const notAConfig: [string, string][] = [
    ['a bare scalar', 'hello\n'],
    ['a top-level list', '- version: 1\n'],
  ];
  it.each(notAConfig)('%s says what a config needs', (_name, text) => {
    const found = problems(text);
    expect(found.length).toBeGreaterThan(0);
    expect(found[0]).toMatch(/^1:1 (version: expected version: 1|: expected object, received (string|array))$/);
  });

  it('a config with a BOM and CRLF line endings loads', () => {
    expect(problems(`\uFEFF${VALID.replaceAll('\n', '\r\n')}`)).toEqual([]);
  });

  it('through the CLI: exit 1 and the file:line:column, never a stack trace', async () => {
    const dir = tempDir();
    const file = writeFile(dir, 'backflow.yaml', 'version: 1\nsources: [\n');
    const result = await runCli(['--config', file, 'validate']);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(new RegExp(`^${file}:\\d+:\\d+: YAML syntax: `));
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('wrong types', () => {
  // Each entry: a replacement in VALID, and the problem it must produce (position, path, message).
  const corpus: [string, [string, string], string][] = [
    ['version as text', ['version: 1', 'version: "1"'], '1:10 version: expected version: 1'],
    ['version 2', ['version: 1', 'version: 2'], '1:10 version: expected version: 1'],
    [
      'sources as a list',
      ['sources:\n  warehouse: { type: sqlite, path: ./warehouse.db }', 'sources: [warehouse]'],
      '2:10 sources: expected record, received array',
    ],
    [
      'a destination as text',
      ['  gamify: { type: gamifyhost, apiKey: pk_test_abc }', '  gamify: yes'],
      '5:11 destinations.gamify: unknown destination type: expected one of gamifyhost, appizer, vitally, userpilot, formbricks, segment',
    ],
    ['an apiKey as a number', ['apiKey: pk_test_abc', 'apiKey: 12345'], '5:39 destinations.gamify.apiKey: expected string, received number'],
    ['an empty apiKey', ['apiKey: pk_test_abc', 'apiKey: ""'], '5:39 destinations.gamify.apiKey: must not be empty'],
    [
      'a baseUrl that is not http',
      ['apiKey: pk_test_abc }', 'apiKey: pk_test_abc, baseUrl: "ftp://x" }'],
      '5:61 destinations.gamify.baseUrl: must be an http(s) URL',
    ],
    [
      'concurrency as words',
      ['apiKey: pk_test_abc }', 'apiKey: pk_test_abc, concurrency: lots }'],
      '5:65 destinations.gamify.concurrency: must be a whole number',
    ],
    [
      'a zero rate',
      ['apiKey: pk_test_abc }', 'apiKey: pk_test_abc, rateLimit: { requestsPerSecond: 0 } }'],
      '5:84 destinations.gamify.rateLimit.requestsPerSecond: Too small: expected number to be >0',
    ],
    [
      'a negative timeout',
      ['apiKey: pk_test_abc }', 'apiKey: pk_test_abc, timeoutSeconds: -1 }'],
      '5:68 destinations.gamify.timeoutSeconds: Too small: expected number to be >0',
    ],
    [
      'too many retries',
      ['apiKey: pk_test_abc }', 'apiKey: pk_test_abc, retry: { attempts: 100 } }'],
      '5:71 destinations.gamify.retry.attempts: Too big: expected number to be <=20',
    ],
    ['syncs as a map', ['  - name: users', '  x:\n    name: users'], '7:3 syncs: expected array, received object'],
    [
      'a sync name with a space',
      ['name: users', 'name: my users'],
      '7:11 syncs[0].name: use letters, digits, "_", "-" or "." (starting with a letter or digit)',
    ],
    ['a sync name in emoji', ['name: users', 'name: "🚀"'], '7:11 syncs[0].name: use letters, digits, "_", "-" or "." (starting with a letter or digit)'],
    ['a null primary key', ['primaryKey: id', 'primaryKey: null'], '10:17 syncs[0].primaryKey: expected string, received null'],
    ['batchSize zero', ['primaryKey: id', 'primaryKey: id\n    batchSize: 0'], '11:16 syncs[0].batchSize: Too small: expected number to be >0'],
    ['batchSize fractional', ['primaryKey: id', 'primaryKey: id\n    batchSize: 1.5'], '11:16 syncs[0].batchSize: must be a whole number'],
    ['a mapping as a list', ['mapping: { externalId: id, email: email }', 'mapping: [id, email]'], '12:14 syncs[0].mapping: expected record, received array'],
    ['a mapping to a number', ['email: email }', 'email: 42 }'], '12:39 syncs[0].mapping.email: expected string, received number'],
    ['a schedule as a number', ['primaryKey: id', 'primaryKey: id\n    schedule: 15'], '11:15 syncs[0].schedule: expected string, received number'],
    [
      'allowNonSelect as text',
      ['primaryKey: id', 'primaryKey: id\n    allowNonSelect: "yes"'],
      '11:21 syncs[0].allowNonSelect: expected boolean, received string',
    ],
  ];
  it.each(corpus)('%s is named at its position', (_name, [from, to], expected) => {
    expect(VALID).toContain(from);
    expect(problems(VALID.replace(from, to))).toEqual([expected]);
  });
});

describe('SQL that is not a read', () => {
  const withQuery = (query: string, extra = '') => VALID.replace('    query: select * from users\n', () => `    query: ${JSON.stringify(query)}\n${extra}`);
  const refusal = (reason: string) =>
    `9:12 syncs[0].query: ${reason}. A sync only reads its source: write a SELECT, or set allowNonSelect: true on this sync to run it anyway (still read-only)`;

  const refused: [string, string][] = [
    ['delete from users', 'the query starts with DELETE, not SELECT'],
    ['UPDATE users SET plan = null', 'the query starts with UPDATE, not SELECT'],
    ['insert into users (id) values (1)', 'the query starts with INSERT, not SELECT'],
    ['drop table users', 'the query starts with DROP, not SELECT'],
    ['truncate users', 'the query starts with TRUNCATE, not SELECT'],
    ['create table copy as select * from users', 'the query starts with CREATE, not SELECT'],
    ['pragma writable_schema = 1', 'the query starts with PRAGMA, not SELECT'],
    ["attach 'other.db' as other", 'the query starts with ATTACH, not SELECT'],
    ["copy (select * from users) to '/tmp/users.csv'", 'the query starts with COPY, not SELECT'],
    ['call refresh_users()', 'the query starts with CALL, not SELECT'],
    ['-- select\ndelete from users', 'the query starts with DELETE, not SELECT'],
    ['/* select */ update users set plan = 1', 'the query starts with UPDATE, not SELECT'],
    ['select * from users; delete from users', 'the query holds more than one statement: give one SELECT'],
    ['with gone as (delete from users returning *) select * from gone', 'the query contains DELETE, which changes data'],
    ['select * into backup from users', 'the query contains INTO, which changes data'],
    ['select * from users for update', 'the query contains UPDATE, which changes data'],
    ['-- only a comment', 'the query is empty (only comments)'],
  ];
  it.each(refused)('refuses %j', (query, reason) => {
    expect(problems(withQuery(query))).toEqual([refusal(reason)]);
  });

  const reads = [
    'select * from users',
    '  SELECT id FROM users;',
    '(select 1 as id)',
    'with recent as (select * from users) select * from recent',
    "values (1, 'a')",
    'table users',
    'from users',
    "from read_parquet('users/*.parquet')",
    "select * from read_csv_auto('users.csv')",
    'select \'delete\' as word, "update" as quoted, `insert` as backticked from users',
    'select updated_at, deleted, created_by, inserted_rows from users',
    'select * from users -- delete later\n',
    // $$ is a literal $ in the config's ${VAR} interpolation: this is the query `select $$insert into x$$ as text`.
    'select $$$$insert into x$$$$ as text',
    'select * from users where :cursor is null or updated_at > :cursor',
  ];
  it.each(reads)('accepts %j', (query) => {
    expect(problems(withQuery(query))).toEqual([]);
  });

  it('allowNonSelect lets the config through; the source still runs it read-only and changes nothing', async () => {
    const dir = tempDir();
    sqliteTable(path.join(dir, 'warehouse.db'), 'users', users(3));
    const config = gamifyConfig({ url: 'http://127.0.0.1:9', query: 'delete from users returning *', syncExtra: '    allowNonSelect: true' });
    expect(problems(config.replace('${GAMIFY_KEY:-pk_test_secret_key_123}', 'pk_test_x'))).toEqual([]);
    const workspace = workspaceFor(config, dir);
    const run = await runSync(workspace, workspace.syncNamed('users'));
    expect(run.outcome).toBe('failed');
    expect(run.error).toBe('source "warehouse" (sqlite): attempt to write a readonly database');
    expect(sqliteRows(path.join(dir, 'warehouse.db'), 'select count(*) as n from users')).toEqual([{ n: 3 }]);
  });
});

describe('huge values', () => {
  let dir: string;
  let emulator: GamifyHostEmulator;
  // GamifyHost documents no body limit; the emulator applies a typical proxy's 512 KB. Each test writes its own rows.
  beforeEach(async () => ({ dir, emulator } = await gamifyWarehouse(1, { maxBodyBytes: 512 * 1024 })));

  it('a 1 MB text is rejected by the destination with its reason; a 1 MB phone is invalid; the rest is sent', async () => {
    const rows = users(4);
    rows[1].name = 'n'.repeat(1024 * 1024);
    rows[2].phone = '9'.repeat(1024 * 1024);
    sqliteTable(path.join(dir, 'warehouse.db'), 'users', rows, [...Object.keys(rows[0]), 'phone']);
    const workspace = workspaceFor(gamifyConfig({ url: emulator.url, mapping: '      externalId: id\n      displayName: name\n      phone: phone' }), dir);
    const run = await runSync(workspace, workspace.syncNamed('users'));

    expect(run.outcome).toBe('partial');
    expect(run.counts).toMatchObject({ sent: 2, rejected: 1, invalid: 1 });
    expect(run.rejections).toEqual([{ key: '2', reason: 'HTTP 413: payload too large' }]);
    // The reason shows the value that failed, cut short.
    expect(run.invalid).toEqual([{ key: '3', reason: `phone: at most 20 characters (got "${'9'.repeat(38)}…)` }]);
    expect([...emulator.profiles.keys()].sort()).toEqual(['TEST:1', 'TEST:4']);
    // The state keeps the rejection's reason, not the megabyte.
    const [rejection] = workspace.state.rejections('users', 10);
    expect(rejection).toMatchObject({ key: '2', status: 413 });
    expect(JSON.stringify(rejection).length).toBeLessThan(500);
  });

  it('a trait over Segment’s 32 KB per message is invalid, never sent, with the field named', async () => {
    const rows = users(2);
    rows[0].name = '😀'.repeat(20_000);
    sqliteTable(path.join(dir, 'warehouse.db'), 'users', rows);
    const config = `version: 1
state: { path: ./state.db }
sources:
  warehouse: { type: sqlite, path: ./warehouse.db }
destinations:
  segment: { type: segment, writeKey: wk_test_abcdef, host: "http://127.0.0.1:9" }
syncs:
  - name: users
    source: warehouse
    query: select * from users
    primaryKey: id
    destination: segment
    mapping: { userId: id, traits.name: name }
`;
    const workspace = workspaceFor(config, dir);
    const plan = await planSync(workspace, workspace.syncNamed('users'));
    expect(plan.counts).toMatchObject({ invalid: 1, added: 1 });
    // Sendable records are listed first, then invalid ones.
    expect(plan.records.map((record) => `${record.key}:${record.class}`)).toEqual(['2:added', '1:invalid']);
    expect((plan.records[1] as InvalidRecord).reason).toMatch(
      /^\(payload\): the identify message would be 78\.\d KB; Segment accepts at most 32 KB per message\. The largest field is traits\.name \(78\.\d KB\)/,
    );
  });
});

describe('unicode and emoji in every field', () => {
  let dir: string;
  let emulator: GamifyHostEmulator;
  beforeEach(async () => ({ dir, emulator } = await gamifyWarehouse(1))); // the test writes its own rows

  // Astral emoji, ZWJ sequences, flags, combining marks, right-to-left text, CJK, a NUL, math letters.
  // (Not a lone surrogate: it cannot be stored as UTF-8 text in any warehouse, so it never arrives.)
  const texts = ['👩‍👩‍👧‍👦 Fam', 'Zoë Ångström', 'e\u0301\u0302 combining', 'مرحبا بالعالم', '日本語テキスト', '🇳🇬🇬🇧', 'nul\u0000inside', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢'];

  it('reach the destination and the state byte for byte, and an unchanged second run sends nothing', async () => {
    const rows = texts.map((text, index) => ({ id: `🔑-${index}-ключ`, 名前: text, email: `${text}@例え.jp`, 国: 'ng', 設備: 'mobile', tag: `🏷️ ${text}` }));
    sqliteTable(path.join(dir, 'warehouse.db'), 'users', rows);
    const mapping = [
      '      externalId: id',
      '      displayName: { template: "✨ {{名前}} ✨" }',
      '      email: email',
      '      phone: { value: "☎️ +234 80" }',
      '      country: { column: 国, transform: upper }',
      '      device: 設備',
      '      source: { value: "ソース 🚰" }',
      '      tags.país: tag',
      '      metadata.注記: 名前',
    ].join('\n');
    const config = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url, mapping, query: '"select * from users -- ユーザー 🙂"' }));
    const first = await runCli(['--config', config, 'sync']);
    expect(first.code).toBe(0);

    const expected = rows.map((row) => ({
      externalId: row.id,
      displayName: `✨ ${row.名前} ✨`,
      email: row.email,
      phone: '☎️ +234 80',
      country: 'NG',
      device: 'mobile',
      source: 'ソース 🚰',
      tags: { país: row.tag },
      metadata: { 注記: row.名前 },
    }));
    const byKey = (payloads: Record<string, unknown>[]) => [...payloads].sort((a, b) => String(a.externalId).localeCompare(String(b.externalId)));
    expect(byKey(emulator.sentBodies)).toEqual(byKey(expected));
    // The wire carries UTF-8 as is (JSON escapes only what it must).
    expect(emulator.received.map((request) => request.rawBody.toString('utf8')).join('\n')).toContain('"displayName":"✨ 👩‍👩‍👧‍👦 Fam ✨"');
    const stored = sqliteRows<{ key: string; payload: string }>(path.join(dir, 'state.db'), 'select key, payload from records');
    expect(new Map(stored.map((row) => [row.key, JSON.parse(row.payload)]))).toEqual(new Map(expected.map((payload) => [payload.externalId, payload])));

    const second = await runCli(['--config', config, 'sync']);
    expect(second.stdout).toContain(`sent 0  rejected 0  failed 0  unchanged ${texts.length}`);
    const plan = await runCli(['--config', config, 'plan']);
    expect(plan.stdout).toContain('Plan: nothing to send.');
  });
});

describe('oversized and malformed ingest payloads', () => {
  let url: string;
  let loaded: Awaited<ReturnType<typeof ingestFor>>['loaded'];
  let dir: string;
  beforeEach(async () => {
    dir = tempDir();
    ({ url, loaded } = await ingestFor(segmentConfig(dir, NO_SYNCS)));
  });

  const storedCount = () => sqliteRows<{ n: number }>(storePath(dir), 'select count(*) as n from events')[0].n;

  const corpus: [string, () => Promise<{ status: number; body: { error?: string } }>, RegExp][] = [
    ['truncated JSON', () => post(url, '/v1/identify', '{"userId": "u1", "traits": {', { raw: true }), /^the body is not valid JSON: /],
    ['a JSON number', () => post(url, '/v1/identify', '42', { raw: true }), /^the body must be a JSON object$/],
    ['a JSON string', () => post(url, '/v1/batch', '"batch"', { raw: true }), /^the body must be a JSON object$/],
    ['null', () => post(url, '/v1/track', 'null', { raw: true }), /^the body must be a JSON object$/],
    [
      'invalid UTF-8 bytes',
      () => post(url, '/v1/identify', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]).toString('latin1'), { raw: true }),
      /^the body is not valid JSON: /,
    ],
    [
      'a body of 600 KB',
      () => post(url, '/v1/track', { userId: 'u1', event: 'Big', properties: { blob: 'x'.repeat(600 * 1024) } }),
      /^the request body is \d+ bytes: at most 512000 bytes/,
    ],
    ['a message over 32 KB', () => post(url, '/v1/track', { userId: 'u1', event: 'Big', properties: { blob: 'x'.repeat(40 * 1024) } }), /32/],
    ['a gzip bomb', () => postGzipBomb(url), /^the request body is over the limit once gunzipped/],
    [
      'deeply nested JSON',
      () => post(url, '/v1/identify', `{"userId":"u1","traits":${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}}`, { raw: true }),
      /^the request body is \d+ bytes|nest/,
    ],
    [
      'a batch of 3,000 messages',
      () =>
        post(url, '/v1/batch', {
          batch: Array.from({ length: 3000 }, (_, index) => ({ type: 'track', userId: `u${index}`, event: 'e', messageId: `m${index}` })),
        }),
      /2,?500/,
    ],
    ['a messageId of 10,000 characters', () => post(url, '/v1/identify', { userId: 'u1', traits: {}, messageId: 'm'.repeat(10_000) }), /messageId/],
    [
      'an unsupported Content-Encoding',
      () => post(url, '/v1/identify', { userId: 'u1' }, { headers: { 'Content-Encoding': 'br' } }),
      /^Content-Encoding "br" is not supported/,
    ],
  ];

  it.each(corpus)('%s gets a 400 with the reason, stores nothing, and the endpoint keeps serving', async (_name, send, reason) => {
    const answer = await send();
    expect(answer.status).toBe(400);
    expect(answer.body.error ?? JSON.stringify(answer.body)).toMatch(reason);
    expect(storedCount()).toBe(0);
    expect((await post(url, '/v1/identify', { userId: 'after', traits: { ok: true }, messageId: 'm-after' })).status).toBe(200);
  });

  it('keeps unicode and emoji in ids and traits exactly', async () => {
    const traits = { name: '👩‍👩‍👧‍👦 Zoë', city: 'القاهرة', note: 'e\u0301 nul\u0000 ok', 键: '値 🙂' };
    expect((await post(url, '/v1/identify', { userId: 'ユーザー-🙂', traits, messageId: 'm-uni' })).status).toBe(200);
    const profile = (await readProfiles(loaded)).get('ユーザー-🙂');
    expect(profile?.traits).toEqual(traits);
  });
});

/** About 20 KB of gzip that unpacks to 20 MB of zeros inside a JSON string. */
async function postGzipBomb(url: string) {
  const inner = Buffer.concat([Buffer.from('{"userId":"u1","event":"Bomb","properties":{"z":"'), Buffer.alloc(20 * 1024 * 1024, 0x30), Buffer.from('"}}')]);
  const zipped = zlib.gzipSync(inner, { level: 9 });
  const response = await fetch(`${url}/v1/track`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip', Authorization: `Basic ${Buffer.from('wk_test_4f9a2c71:').toString('base64')}` },
    body: new Uint8Array(zipped),
  });
  return { status: response.status, body: (await response.json()) as { error?: string } };
}
