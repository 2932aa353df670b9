// Userpilot — Identify a user (https://docs.userpilot.com/api-references/endpoints/realtime/identify-user).
// POST https://{environment}.userpilot.io/v1/identify with `Authorization: Token {key}`; 202 Accepted.
// With `batch:` set, POST /v1/users/bulk_identify ({users: [...]}, up to 10,000), a background job
// read back from GET /v1/background_jobs/{job_id} (docs.userpilot.com, api-references/bulk-updates/users).
import { z } from 'zod';
import { defineConnector, type JobState } from '../contract.js';
import { baseUrlOverride, idString, secret, standardOutcome, vendorMessage } from '../shared.js';

const settings = z.strictObject({
  environment: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]*$/i, 'must be the host prefix alone, e.g. analytex (US) or analytex-eu (EU)')
    .describe('Host prefix of your Userpilot API: analytex (US), analytex-eu (EU) or your dedicated one; requests go to https://{environment}.userpilot.io.'),
  apiKey: secret('API key from Userpilot’s Environment Settings. Sent as Authorization: Token {apiKey}.'),
  baseUrl: baseUrlOverride('Replaces https://{environment}.userpilot.io (a proxy, or a local emulator in tests).'),
});

/** Userpilot stores metadata values as primitives: text, numbers, or ISO 8601 dates as text. */
const primitive = z.union([z.string(), z.number().finite()], {
  error: 'must be text or a number (Userpilot keeps primitives only; dates as ISO 8601 text)',
});

const payload = z.strictObject({
  user_id: idString.describe('Your unique identifier for the user (required).'),
  metadata: z.record(z.string(), primitive).optional().describe('User properties (name, email, plan, …); values are text or numbers.'),
  company: z
    .looseObject({ company_id: idString.describe('Your unique identifier for the company (required with company).') })
    .catchall(primitive)
    .optional()
    .describe('The user’s company: company_id plus company properties (text or numbers).'),
});

/** Userpilot answers errors as {errors: [{details, error, error_code, message}]}. */
function errorMessages(body: unknown): string {
  const errors = (body as { errors?: unknown } | undefined)?.errors;
  if (!Array.isArray(errors) || errors.length === 0) return vendorMessage(body);
  return errors
    .map((entry) => {
      const item = (entry ?? {}) as Record<string, unknown>;
      const text = [item.message, item.error, item.details].find((value) => typeof value === 'string' && value.length > 0) as string | undefined;
      const code = typeof item.error_code === 'string' ? ` (${item.error_code})` : '';
      return `${text ?? JSON.stringify(entry)}${code}`;
    })
    .join('; ');
}

type Settings = z.infer<typeof settings>;

const baseUrlOf = (config: Settings) => config.baseUrl ?? `https://${config.environment}.userpilot.io`;
const headersOf = (config: Settings) => ({ Authorization: `Token ${config.apiKey}`, 'X-API-Version': '2020-09-22', 'Content-Type': 'application/json' });

/** Userpilot documents at most 10,000 users per bulk request. */
export const USERPILOT_BULK_MAX = 10_000;

/** Job statuses Userpilot documents before a job ends. */
const RUNNING = new Set(['queued', 'validating', 'processing', 'pending_refresh']);

export const userpilot = defineConnector({
  type: 'userpilot',
  title: 'Userpilot: identify a user (and their company) by user_id',
  settings,
  secrets: ['apiKey'],
  payload,
  keyField: 'user_id',
  // Identify allows 600 requests/minute per token and sends no rate-limit headers, so the pacing
  // itself must stay under it: 8/s (480/min) leaves room for other callers on the same token.
  defaults: {
    requestsPerSecond: 8,
    concurrency: 4,
    mapping: { user_id: 'id', 'metadata.name': 'name', 'metadata.email': 'email', 'company.company_id': 'company_id' },
  },

  request: (config, record) => ({
    method: 'POST',
    url: `${baseUrlOf(config)}/v1/identify`,
    headers: headersOf(config),
    json: record,
  }),

  // Success is 202 Accepted (processed asynchronously); every error keeps Userpilot's messages.
  interpret: (response) => standardOutcome(response, errorMessages(response.body)),

  // Bulk identify takes user_id, company_id and metadata only: company properties other than
  // company_id are not part of it (README.md), which is why bulk is opt-in.
  batch: {
    maxSize: USERPILOT_BULK_MAX,
    byDefault: false,
    item: (_config, record) => ({
      user_id: record.user_id,
      ...(record.company ? { company_id: record.company.company_id } : {}),
      ...(record.metadata ? { metadata: record.metadata } : {}),
    }),
    request: (config, items) => ({ method: 'POST', url: `${baseUrlOf(config)}/v1/users/bulk_identify`, headers: headersOf(config), json: { users: items } }),
    interpret(response) {
      const outcome = standardOutcome(response, errorMessages(response.body));
      if (outcome.kind !== 'sent') return outcome;
      // 202 with a background job: nothing is confirmed until the job completes.
      const jobId = (response.body as { job_id?: unknown } | null)?.job_id;
      if (typeof jobId === 'string' && jobId.length > 0) return { kind: 'job', jobId };
      return { kind: 'retry', reason: `HTTP ${response.status} without the documented background job` };
    },
    job: {
      request: (config, jobId) => ({ method: 'GET', url: `${baseUrlOf(config)}/v1/background_jobs/${encodeURIComponent(jobId)}`, headers: headersOf(config) }),
      interpret(response): JobState {
        if (response.status === 404) return { kind: 'failed', reason: `HTTP 404: ${errorMessages(response.body)} (Userpilot no longer knows the job)` };
        const outcome = standardOutcome(response, errorMessages(response.body));
        if (outcome.kind === 'retry' || outcome.kind === 'stop') return outcome;
        if (outcome.kind === 'rejected') return { kind: 'failed', reason: outcome.reason };
        const job = (response.body ?? {}) as { status?: unknown; error?: unknown; completed_rows?: unknown; total_rows?: unknown };
        if (job.status === 'completed') return { kind: 'completed' };
        if (job.status === 'failed') {
          return {
            kind: 'failed',
            reason:
              typeof job.error === 'string' && job.error
                ? job.error
                : `status failed (${String(job.completed_rows ?? 0)} of ${String(job.total_rows ?? '?')} rows)`,
          };
        }
        if (typeof job.status === 'string' && RUNNING.has(job.status)) return { kind: 'running', status: job.status };
        return { kind: 'retry', reason: `HTTP ${response.status}: a background job status Userpilot does not document: ${JSON.stringify(job.status)}` };
      },
    },
  },
});
