// The one schema of backflow.yaml. Types come from it; the editor's JSON Schema is generated from it.
import { z } from 'zod';
import { connectors } from '../../connectors/index.js';
import { TRANSFORM_NAMES } from '../mapping/transforms.js';
import type { SyncModel } from '../dbt/config.js';
import { sourceTypes } from '../sources/index.js';

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'use letters, digits, "_", "-" or "." (starting with a letter or digit)');

const positiveInt = z.number().int('must be a whole number').positive();

// Env interpolation yields text, so numeric settings also accept numeric text ("8").
const count = z
  .union([positiveInt, z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(positiveInt)])
  .describe('A positive whole number.');
/** A number setting, also given as numeric text ("2.5"), checked by `number` either way. */
const numberOrText = (number: z.ZodNumber) =>
  z.union([
    number,
    z
      .string()
      .regex(/^\d+(\.\d+)?$/, 'must be a number')
      .transform(Number)
      .pipe(number),
  ]);
const positiveNumber = numberOrText(z.number().positive());

function isPostgresUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'postgres:' || url.protocol === 'postgresql:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** How long a sync's lock outlives its holder's last heartbeat, unless state.lockExpirySeconds says otherwise. */
const DEFAULT_LOCK_EXPIRY_SECONDS = 30;

const transformName = z.enum(TRANSFORM_NAMES, {
  error: (issue) => `unknown transform ${JSON.stringify(issue.input)}: expected one of ${TRANSFORM_NAMES.join(', ')}`,
});

const mappingObject = z
  .strictObject({
    column: z.string().min(1).optional().describe('Source column to read; a dotted name reads into a JSON column.'),
    value: z.unknown().optional().describe('A constant sent for every record.'),
    template: z.string().optional().describe('Text with {{column}} placeholders, e.g. "{{first_name}} {{last_name}}".'),
    transform: z
      .union([transformName, z.array(transformName).min(1)])
      .optional()
      .describe(`Applied in order to a non-null value: ${TRANSFORM_NAMES.join(', ')}.`),
    default: z.unknown().optional().describe('Used when the source value is null.'),
    onNull: z
      .enum(['omit', 'send'])
      .default('omit')
      .describe('omit (default): a null leaves the field out, so it never wipes the destination; send: send null.'),
  })
  .superRefine((entry, context) => {
    const forms = ['column', 'value', 'template'].filter((key) => key in entry);
    if (forms.length !== 1) {
      context.addIssue({
        code: 'custom',
        message:
          forms.length === 0
            ? 'a mapping needs one of column, value or template'
            : `a mapping takes one of column, value or template, not ${forms.join(' and ')}`,
      });
    }
  });

export const mappingValue = z
  .union([z.string().min(1).describe('A source column name.'), mappingObject])
  .describe('A column name, or {column, transform?, default?, onNull?}, {value} or {template}.');

const retry = z
  .strictObject({
    attempts: z.number().int().min(0).max(20).default(5).describe('Retries after the first try (429, 5xx, timeouts, connection errors).'),
    baseDelayMs: z.number().int().min(1).default(500).describe('First backoff delay; doubles each retry, with jitter.'),
    maxDelaySeconds: z
      .number()
      .positive()
      .default(60)
      .describe('Longest wait for one retry, Retry-After included; a longer Retry-After gives up for this run.'),
  })
  .describe('Retry policy for passing failures.');

/** Settings every destination has, whatever its type. */
const destinationCommon = {
  rateLimit: z
    .strictObject({ requestsPerSecond: positiveNumber.describe('Requests per second, shared by every sync using this destination.') })
    .optional()
    .describe("Overrides the connector's conservative default."),
  concurrency: count.optional().describe('Requests in flight at once; defaults per connector.'),
  timeoutSeconds: positiveNumber.default(30).describe('Time limit for one request attempt.'),
  retry: retry.default({ attempts: 5, baseDelayMs: 500, maxDelaySeconds: 60 }),
};

/**
 * `batch:` of a destination whose vendor has a batch endpoint taking at most `maxSize` records;
 * `jobs`: the vendor confirms batches later, through background jobs the run waits for.
 */
const batchSetting = (vendor: string, maxSize: number, jobs: boolean) =>
  z
    .union([
      z.literal(false).describe('One record per request.'),
      z
        .strictObject({
          // optional() before pipe(): a key whose pipe starts required stays required.
          size: count
            .optional()
            .pipe(z.number().max(maxSize, `${vendor} takes at most ${maxSize} records per batch request`).optional())
            .describe(`Records per request, at most ${maxSize} (the vendor's limit, and the default).`),
          // Only a vendor that confirms batches through background jobs has something to wait for.
          ...(jobs
            ? {
                waitSeconds: positiveNumber
                  .optional()
                  .describe('How long a run waits for the background jobs of its batches before leaving them to the next run (default 60).'),
              }
            : {}),
        })
        .describe('Group records into batch requests.'),
    ])
    .optional()
    .describe(`Batch delivery: { size: N } (default size: the vendor's maximum, ${maxSize}) or false for one record per request.`);

const destination = z.discriminatedUnion(
  'type',
  Object.values(connectors).map((connector) =>
    z
      .strictObject({
        type: z.literal(connector.type),
        ...connector.settings.shape,
        ...destinationCommon,
        // Only a connector with a batch endpoint takes `batch:`; for the others it is an unknown key.
        ...('batch' in connector && connector.batch
          ? { batch: batchSetting(connector.title.split(/[\s:]/)[0], connector.batch.maxSize, Boolean(connector.batch.job)) }
          : {}),
      })
      .describe(connector.title),
  ) as unknown as [z.ZodObject, ...z.ZodObject[]],
  { error: () => `unknown destination type: expected one of ${Object.keys(connectors).join(', ')}` },
);

const source = z.discriminatedUnion(
  'type',
  Object.values(sourceTypes).map((sourceType) =>
    z.strictObject({ type: z.literal(sourceType.type), ...sourceType.settings.shape }).describe(sourceType.title),
  ) as unknown as [z.ZodObject, ...z.ZodObject[]],
  { error: () => `unknown source type: expected one of ${Object.keys(sourceTypes).join(', ')}` },
);

const sync = z.strictObject({
  name: name.describe('Unique name of the sync; state is kept per name.'),
  source: z.string().describe('Name of an entry in sources.'),
  query: z.string().min(1).optional().describe('SQL that returns one row per record (SQL sources).'),
  model: z
    .string()
    .min(1)
    .optional()
    .describe(
      "Instead of query: a dbt model (or seed, snapshot) to read, resolved through dbt.manifest: dim_users, shop.dim_users, ref('dim_users'), ref('shop', 'dim_users'), ref('dim_users', v=2).",
    ),
  allowNonSelect: z
    .boolean()
    .default(false)
    .describe(
      'Run a query that is not a plain read (SELECT, WITH … SELECT, VALUES, TABLE, DuckDB FROM …), e.g. CALL a procedure that returns rows. The source still runs it read-only where the engine allows.',
    ),
  primaryKey: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Column that identifies a record. Required, except from a source with its own key (segment uses userId) or for a dbt model that declares one (meta backflow.primary_key, a primary_key constraint, or a unique test).',
    ),
  cursor: z
    .string()
    .min(1)
    .optional()
    .describe('Column for incremental reads; the query gets :cursor (or Backflow filters past it). A segment source defaults to changeSeq.'),
  destination: z.string().describe('Name of an entry in destinations.'),
  schedule: z.string().optional().describe('node-cron expression (5 fields, or 6 with seconds) for the daemon.'),
  timezone: z.string().optional().describe('IANA time zone for the schedule, e.g. Europe/Berlin.'),
  batchSize: count.default(1000).describe('Rows read from the source at a time.'),
  pushdown: z
    .boolean()
    .default(false)
    .describe(
      "Read in two passes (duckdb, postgres and mysql sources): each row's key and a hash the database computes over the mapped columns, then full rows only for keys whose hash changed. For syncs without a cursor; the first run with it reads every row once.",
    ),
  mapping: z
    .record(z.string().min(1), mappingValue)
    .optional()
    .describe("Destination field <- source. Leave it out to use the connector's suggested mapping (its README lists it)."),
});

/** Run outcomes an alert can be told to notify on. */
export const ALERT_OUTCOMES = ['success', 'partial', 'failed', 'stopped', 'interrupted'] as const;
export const DEFAULT_ALERT_OUTCOMES = ['failed', 'stopped', 'partial'] as const;

const alertOutcome = z.enum(ALERT_OUTCOMES, {
  error: (issue) => `unknown outcome ${JSON.stringify(issue.input)}: expected one of ${ALERT_OUTCOMES.join(', ')}`,
});

function isHttpUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hostname !== '';
  } catch {
    return false;
  }
}

// Never echo the value: a Slack webhook URL carries its token, and a config error is printed before
// the secrets are registered for redaction.
const alertUrl = z.string().refine(isHttpUrl, 'expected an http:// or https:// URL, e.g. https://hooks.slack.com/services/…');

const wholeNumber = z.number().int('must be a whole number').min(0, 'must be 0 or more');

/** Settings every alert has, whatever its type. */
const alertCommon = {
  name: name.describe('Names the alert in logs, metrics and backflow alert test.'),
  on: z
    .array(alertOutcome)
    .min(1, 'list at least one outcome, e.g. on: [failed, stopped]')
    .default([...DEFAULT_ALERT_OUTCOMES])
    .describe(`Run outcomes that send a message: ${ALERT_OUTCOMES.join(', ')}. Default: ${DEFAULT_ALERT_OUTCOMES.join(', ')}.`),
  syncs: z
    .array(z.string().min(1))
    .min(1, 'list at least one sync, or leave syncs out to cover every sync')
    .optional()
    .describe('Only runs of these syncs send a message. Default: every sync.'),
  rejectedAbove: z
    .union([wholeNumber, z.string().regex(/^\d+$/, 'must be a whole number').transform(Number).pipe(wholeNumber)])
    .optional()
    .describe(
      'Also send a message for a run, whatever its outcome, that refused more than this many records (rejected by the destination plus invalid against its payload schema).',
    ),
  timeoutSeconds: positiveNumber
    .pipe(z.number().max(30, 'at most 30: an alert must never hold up a run'))
    .default(5)
    .describe('The most one message may take, retries included (default 5, at most 30).'),
};

const alert = z.discriminatedUnion(
  'type',
  [
    z
      .strictObject({
        type: z.literal('webhook'),
        ...alertCommon,
        url: alertUrl.describe('Where the JSON is POSTed. A secret: never printed or logged.'),
        secret: z
          .string()
          .min(16, 'a signing secret needs at least 16 characters, e.g. the output of: openssl rand -hex 32')
          .optional()
          .describe('Signs each body: header X-Backflow-Signature: sha256=<hex HMAC-SHA256 of the body>. A secret: never printed or logged.'),
      })
      .describe('A JSON POST, signed with HMAC-SHA256 when a secret is set.'),
    z
      .strictObject({
        type: z.literal('slack'),
        ...alertCommon,
        url: alertUrl.describe('The Slack incoming-webhook URL (https://hooks.slack.com/services/…). A secret: it carries its token.'),
      })
      .describe('A message to a Slack incoming webhook.'),
  ],
  { error: () => 'unknown alert type: expected webhook or slack' },
);

const configObject = z.strictObject({
  $schema: z.string().optional().describe('Path or URL of this JSON Schema, for editors.'),
  version: z.literal(1, { error: 'expected version: 1' }),
  state: z
    .strictObject({
      path: z.string().min(1).optional().describe('SQLite state file, relative to the config file (the default: ./.backflow/state.db).'),
      url: z
        .string()
        .refine(isPostgresUrl, 'expected a PostgreSQL URL: postgres://user:password@host:5432/database')
        .optional()
        .describe(
          'A PostgreSQL database to keep the state in instead of a file, shared by every process pointed at it (fleet mode). A secret: it carries its password.',
        ),
      schema: name.default('backflow').describe('The PostgreSQL schema Backflow owns in that database (with state.url).'),
      lockExpirySeconds: numberOrText(z.number().min(1, 'expected at least 1 (seconds)'))
        .default(DEFAULT_LOCK_EXPIRY_SECONDS)
        .describe(
          "How long a sync's lock outlives its holder's last heartbeat (refreshed every sixth of it) before another process takes it over. Keep it above the clock difference between hosts sharing the state.",
        ),
    })
    .refine((state) => !(state.path && state.url), { message: 'set state.path (a SQLite file) or state.url (PostgreSQL), not both', path: ['url'] })
    .default({ schema: 'backflow', lockExpirySeconds: DEFAULT_LOCK_EXPIRY_SECONDS }),
  sources: z.record(name, source).describe('Where records come from.'),
  destinations: z.record(name, destination).describe('Where records go.'),
  dbt: z
    .strictObject({
      manifest: z.string().min(1).describe("dbt's target/manifest.json, relative to the config file (manifest v10 to v12: dbt 1.6 to 1.10)."),
    })
    .optional()
    .describe('A dbt project whose models syncs can read with model: instead of query:.'),
  syncs: z.array(sync).min(1, 'define at least one sync').describe('Each sync maps one source query to one destination.'),
  daemon: z
    .strictObject({
      listen: z
        .string()
        .regex(/^[^:]+:\d+$/, 'expected host:port')
        .default('127.0.0.1:9464'),
      shutdownGraceSeconds: positiveNumber.default(30),
    })
    .default({ listen: '127.0.0.1:9464', shutdownGraceSeconds: 30 })
    .describe('The daemon: /healthz, /readyz, /metrics and its shutdown grace.'),
  alerts: z
    .array(alert)
    .default([])
    .describe('Messages sent after a run (backflow sync or the daemon) whose outcome calls for one: a signed webhook or Slack.'),
});

export const configSchema = configObject;

type ParsedConfig = z.output<typeof configSchema>;
/**
 * A sync once loaded: its primaryKey (and cursor) filled from the source type's defaults, and its
 * mapping from the connector's suggested mapping, when left out. A sync that names a dbt `model`
 * has its `query` (select * from the model's relation) and, unless set, its primaryKey from the
 * manifest, with the model in `dbtModel`.
 */
export type SyncConfig = ParsedConfig['syncs'][number] & { primaryKey: string; mapping: Record<string, MappingValue>; dbtModel?: SyncModel };
export type Config = Omit<ParsedConfig, 'syncs'> & { syncs: SyncConfig[] };
export type MappingValue = z.output<typeof mappingValue>;
export type DestinationConfig = Config['destinations'][string] & {
  type: string;
  rateLimit?: { requestsPerSecond: number };
  concurrency?: number;
  /** Only on a destination whose connector has a batch endpoint (see batchSetting). */
  batch?: false | { size?: number; waitSeconds?: number };
  timeoutSeconds: number;
  retry: z.output<typeof retry>;
};
export type SourceConfig = Config['sources'][string] & { type: string };
export type AlertConfig = Config['alerts'][number];
export type AlertOutcome = (typeof ALERT_OUTCOMES)[number];
