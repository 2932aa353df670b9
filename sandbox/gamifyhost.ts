// A strict GamifyHost emulator: POST /v1/user-journeys/users exactly as its page describes it
// (https://docs.gamifyhost.com/user-journeys/track-user/), with the documented envelope, auth answers and field constraints. Profiles are stored per
// environment (the key prefix) and externalId, and merged on update as the real API does.
import { ISO_COUNTRY_CODES } from '../connectors/iso-country.js';
import { headerOf, HttpEmulator, type ReceivedRequest, type Reply } from './http-emulator.js';

export interface GamifyProfile {
  externalId: string;
  environment: 'LIVE' | 'TEST';
  [field: string]: unknown;
}

const STRING_FIELDS = ['displayName', 'email', 'phone', 'country', 'device', 'source'];
const OBJECT_FIELDS = ['tags', 'metadata'];
const KNOWN = new Set(['externalId', ...STRING_FIELDS, ...OBJECT_FIELDS]);

const envelope = (status: number, message: string, code: string): Reply => ({
  status,
  body: { status: 'error', code, message },
});

export class GamifyHostEmulator extends HttpEmulator {
  readonly profiles = new Map<string, GamifyProfile>();
  readonly revokedKeys = new Set<string>();

  constructor(
    readonly validKeys: string[] = ['pk_test_demo'],
    options: { maxBodyBytes?: number } = {},
  ) {
    super((request) => this.handle(request), options);
  }

  profile(externalId: string, environment: 'LIVE' | 'TEST' = 'TEST'): GamifyProfile | undefined {
    return this.profiles.get(`${environment}:${externalId}`);
  }

  /** Bodies of accepted profile writes, in arrival order. */
  get sentBodies(): Record<string, unknown>[] {
    return this.received.filter((request) => request.path === '/v1/user-journeys/users').map((request) => request.body as Record<string, unknown>);
  }

  private handle(request: ReceivedRequest): Reply {
    if (request.method !== 'POST' || request.path !== '/v1/user-journeys/users') return envelope(404, 'Not found', 'NOT_FOUND');
    const key = headerOf(request, 'x-api-key');
    if (!key) return envelope(401, 'Missing X-API-Key header', 'UNAUTHORIZED');
    if (this.revokedKeys.has(key)) return envelope(403, 'API key has been revoked', 'FORBIDDEN');
    if (!this.validKeys.includes(key)) return envelope(401, 'Invalid API key', 'UNAUTHORIZED');
    if (!headerOf(request, 'content-type')?.startsWith('application/json')) return envelope(400, 'Invalid request body', 'BAD_REQUEST');

    const body = request.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return envelope(400, 'Invalid request body', 'BAD_REQUEST');
    const fields = body as Record<string, unknown>;
    if (typeof fields.externalId !== 'string' || fields.externalId.length === 0) {
      return envelope(400, 'Invalid request body (missing externalId)', 'BAD_REQUEST');
    }
    for (const name of Object.keys(fields)) {
      if (!KNOWN.has(name)) return envelope(400, `Invalid request body (unknown field ${name})`, 'BAD_REQUEST');
    }
    for (const name of STRING_FIELDS) {
      if (fields[name] !== undefined && typeof fields[name] !== 'string')
        return envelope(400, `Invalid request body (${name} must be a string)`, 'BAD_REQUEST');
    }
    for (const name of OBJECT_FIELDS) {
      const value = fields[name];
      if (value !== undefined && (value === null || typeof value !== 'object' || Array.isArray(value))) {
        return envelope(400, `Invalid request body (${name} must be an object)`, 'BAD_REQUEST');
      }
    }
    if (typeof fields.phone === 'string' && fields.phone.length > 20) return envelope(400, 'Invalid request body (phone max 20 chars)', 'BAD_REQUEST');
    if (typeof fields.country === 'string' && !ISO_COUNTRY_CODES.has(fields.country)) {
      return envelope(400, 'Invalid request body (country must be ISO 3166-1 alpha-2)', 'BAD_REQUEST');
    }
    if (typeof fields.device === 'string' && !['mobile', 'desktop', 'tablet'].includes(fields.device)) {
      return envelope(400, 'Invalid request body (device must be mobile, desktop or tablet)', 'BAD_REQUEST');
    }

    const environment = key.startsWith('pk_live_') ? 'LIVE' : 'TEST';
    const id = `${environment}:${fields.externalId}`;
    const now = new Date().toISOString();
    const previous = this.profiles.get(id);
    const profile: GamifyProfile = {
      ...previous,
      ...fields,
      externalId: fields.externalId,
      environment,
      firstSeenAt: previous?.firstSeenAt ?? now,
      lastSeenAt: now,
    };
    this.profiles.set(id, profile);
    return {
      status: 200,
      body: { status: 'success', data: { id: `gh-${this.profiles.size}`, partnerId: 'partner-emulator', phone: '', ...profile } },
    };
  }
}
