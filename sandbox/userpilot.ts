// A strict Userpilot emulator: POST /v1/identify as Userpilot's pages describe it
// (https://docs.userpilot.com/api-references/endpoints/realtime/identify-user and
// https://docs.userpilot.com/api-references/real-time/identify-user): `Authorization: Token {key}`, `X-API-Version: 2020-09-22`, user_id required, primitive metadata,
// company with company_id, 202 Accepted, errors as {errors: [{details, error, error_code, message}]},
// and 600 identify requests a minute per token (429 beyond, no rate-limit headers).
//
// Bulk: POST /v1/users/bulk_identify takes {users: [{user_id, company_id?, metadata?}]}, 1 to 10,000,
// and answers 202 with a background job {job_id, status, total_rows, type, start_time}; nothing is
// applied until the job completes. GET /v1/background_jobs/{job_id} reads it back, moving one step
// per read through queued, validating, processing, pending_refresh to completed (or failed), so a
// test decides how slow a job is by how many reads it takes, never by time. Every request counts
// against the same quota of 600 a minute.
import { headerOf, HttpEmulator, type Fault, type ReceivedRequest, type Reply } from './http-emulator.js';
import { RateWindow } from './rate-window.js';

const KNOWN = new Set(['user_id', 'metadata', 'company']);

export interface UserpilotErrorItem {
  error: string;
  error_code: string;
  message: string;
  details?: string;
}

export function userpilotError(status: number, ...errors: UserpilotErrorItem[]): Reply {
  return { status, body: { errors: errors.map((item) => ({ details: '', ...item })) } };
}

export const userpilotFault = (status: number, ...errors: UserpilotErrorItem[]): Fault => ({ kind: 'status', ...userpilotError(status, ...errors) });

const invalid = (message: string, details = '') => userpilotError(400, { error: 'Bad Request', error_code: 'VALIDATION_ERROR', message, details });
const isPrimitive = (value: unknown) => typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));

/** Userpilot's documented limit on users per bulk request. */
export const BULK_LIMIT = 10_000;

export const JOB_STEPS = ['queued', 'validating', 'processing', 'pending_refresh', 'completed'] as const;
export type JobStatus = (typeof JOB_STEPS)[number] | 'failed';

export interface BackgroundJob {
  job_id: string;
  status: JobStatus;
  users: Record<string, unknown>[];
  /** Reads of the job so far. */
  reads: number;
  /** Reads it takes to reach completed (or failed); a held job never gets there. */
  readsToFinish: number;
  fails: boolean;
  held: boolean;
  start_time: string;
}

export class UserpilotEmulator extends HttpEmulator {
  readonly users = new Map<string, Record<string, unknown>>();
  private readonly quotas = new Map<string, RateWindow>();
  readonly jobs = new Map<string, BackgroundJob>();
  /** Reads a new job takes to finish (each read moves it one step). */
  readsPerJob = 2;
  /** Jobs created from now on fail (no user in them is applied). */
  failJobs = false;
  /** Jobs created from now on stay `processing` until releaseJobs(). */
  holdJobs = false;

  constructor(readonly validKeys: string[]) {
    super((request) => this.handle(request));
  }

  get sentBodies(): Record<string, unknown>[] {
    return this.received.filter((request) => request.path === '/v1/identify').map((request) => request.body as Record<string, unknown>);
  }

  /** The bodies of every bulk request received, in order. */
  get bulkBodies(): { users: Record<string, unknown>[] }[] {
    return this.received.filter((request) => request.path === '/v1/users/bulk_identify').map((request) => request.body as { users: Record<string, unknown>[] });
  }

  /** Lets held jobs go on: each finishes at its next read. */
  releaseJobs(): void {
    this.holdJobs = false;
    for (const job of this.jobs.values()) {
      job.held = false;
      job.readsToFinish = Math.min(job.readsToFinish, job.reads + 1);
    }
  }

  private handle(request: ReceivedRequest): Reply {
    const jobPath = /^\/v1\/background_jobs\/([^/?]+)$/.exec(request.path);
    const bulk = request.method === 'POST' && request.path === '/v1/users/bulk_identify';
    if (!bulk && !(request.method === 'GET' && jobPath) && (request.method !== 'POST' || request.path !== '/v1/identify'))
      return userpilotError(404, { error: 'Not Found', error_code: 'NOT_FOUND', message: 'Not found' });
    const authorization = headerOf(request, 'authorization') ?? '';
    const key = authorization.startsWith('Token ') ? authorization.slice('Token '.length) : '';
    if (!this.validKeys.includes(key))
      return userpilotError(401, { error: 'Unauthorized', error_code: 'UNAUTHORIZED', message: 'Unauthorized - Invalid API key' });
    let quota = this.quotas.get(key);
    if (!quota) this.quotas.set(key, (quota = new RateWindow(600, 60_000)));
    if (!quota.take(request.at).allowed) return userpilotError(429, { error: 'Too Many Requests', error_code: 'RATE_LIMITED', message: 'Rate limit exceeded' });
    if (headerOf(request, 'x-api-version') !== '2020-09-22') return invalid('X-API-Version header is required', 'expected 2020-09-22');
    if (jobPath) return this.readJob(decodeURIComponent(jobPath[1]));
    if (!headerOf(request, 'content-type')?.startsWith('application/json')) return invalid('Content-Type must be application/json');
    if (bulk) return this.bulkIdentify(request.body);

    const body = request.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return invalid('Request body must be a JSON object');
    const fields = body as Record<string, unknown>;
    for (const name of Object.keys(fields)) {
      if (!KNOWN.has(name)) return invalid(`Unknown field ${name}`);
    }
    if (typeof fields.user_id !== 'string' || fields.user_id.length === 0) return invalid('user_id is required');
    for (const name of ['metadata', 'company'] as const) {
      const value = fields[name];
      if (value === undefined) continue;
      if (value === null || typeof value !== 'object' || Array.isArray(value)) return invalid(`${name} must be an object`);
      for (const [property, item] of Object.entries(value)) {
        if (!isPrimitive(item)) return invalid(`${name}.${property} must be a string, number or date`);
      }
    }
    const company = fields.company as Record<string, unknown> | undefined;
    if (company && (typeof company.company_id !== 'string' || company.company_id.length === 0)) return invalid('company.company_id is required');

    const previous = this.users.get(fields.user_id);
    this.users.set(fields.user_id, {
      ...previous,
      ...fields,
      metadata: { ...(previous?.metadata as object | undefined), ...(fields.metadata as object | undefined) },
    });
    return { status: 202, body: '' };
  }

  private bulkIdentify(body: unknown): Reply {
    const users = (body as { users?: unknown } | null)?.users;
    if (body === null || typeof body !== 'object' || Array.isArray(body) || !Array.isArray(users)) return invalid('Request body must be {"users": [...]}');
    for (const name of Object.keys(body)) if (name !== 'users') return invalid(`Unknown field ${name}`);
    if (users.length === 0) return invalid('users must hold at least one user');
    if (users.length > BULK_LIMIT) return invalid(`users holds at most ${BULK_LIMIT} users, got ${users.length}`);
    for (const [index, user] of users.entries()) {
      const problem = bulkUserProblem(user);
      if (problem) return invalid(`users[${index}]: ${problem}`);
    }
    const job: BackgroundJob = {
      job_id: `job_${this.jobs.size + 1}`,
      status: 'queued',
      users: users as Record<string, unknown>[],
      reads: 0,
      readsToFinish: this.readsPerJob,
      fails: this.failJobs,
      held: this.holdJobs,
      start_time: new Date().toISOString(),
    };
    this.jobs.set(job.job_id, job);
    return { status: 202, body: this.jobView(job) };
  }

  private readJob(id: string): Reply {
    const job = this.jobs.get(id);
    if (!job) return userpilotError(404, { error: 'Not Found', error_code: 'NOT_FOUND', message: `No background job ${id}` });
    if (job.status !== 'completed' && job.status !== 'failed') {
      job.reads++;
      if (!job.held && job.reads >= job.readsToFinish) {
        job.status = job.fails ? 'failed' : 'completed';
        if (job.status === 'completed') for (const user of job.users) this.applyBulk(user);
      } else {
        // One step per read, staying at processing while held.
        const next = JOB_STEPS[Math.min(JOB_STEPS.indexOf(job.status) + 1, JOB_STEPS.length - 2)];
        job.status = job.held ? (JOB_STEPS.indexOf(next) > 2 ? 'processing' : next) : next;
      }
    }
    return { status: 200, body: this.jobView(job) };
  }

  private jobView(job: BackgroundJob): Record<string, unknown> {
    return {
      job_id: job.job_id,
      status: job.status,
      type: 'bulk_identify_users',
      total_rows: job.users.length,
      completed_rows: job.status === 'completed' ? job.users.length : 0,
      start_time: job.start_time,
      ...(job.status === 'failed' ? { error: 'Job failed while processing rows' } : {}),
    };
  }

  private applyBulk(user: Record<string, unknown>): void {
    const userId = user.user_id as string;
    const previous = this.users.get(userId);
    this.users.set(userId, {
      ...previous,
      user_id: userId,
      ...(user.company_id === undefined ? {} : { company: { ...(previous?.company as object | undefined), company_id: user.company_id } }),
      metadata: { ...(previous?.metadata as object | undefined), ...(user.metadata as object | undefined) },
    });
  }
}

/** What is wrong with one user of a bulk request (undefined: nothing). */
function bulkUserProblem(user: unknown): string | undefined {
  if (user === null || typeof user !== 'object' || Array.isArray(user)) return 'must be an object';
  const fields = user as Record<string, unknown>;
  for (const name of Object.keys(fields)) if (!['user_id', 'company_id', 'metadata'].includes(name)) return `unknown field ${name}`;
  if (typeof fields.user_id !== 'string' || fields.user_id.length === 0) return 'user_id is required';
  if (fields.company_id !== undefined && (typeof fields.company_id !== 'string' || fields.company_id.length === 0)) return 'company_id must be a string';
  if (fields.metadata !== undefined) {
    if (fields.metadata === null || typeof fields.metadata !== 'object' || Array.isArray(fields.metadata)) return 'metadata must be an object';
    for (const [property, item] of Object.entries(fields.metadata)) if (!isPrimitive(item)) return `metadata.${property} must be a string, number or date`;
  }
  return undefined;
}
