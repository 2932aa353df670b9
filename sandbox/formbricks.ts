// A strict Formbricks client API emulator: POST /api/v1/client/{environmentId}/user as its page
// (https://formbricks.com/docs/api-reference/client-api-%3E-user/create-or-identify-user) and the
// open-source server (formbricks/formbricks) describe it: no auth, userId required, attributes of
// text/number/boolean, email checked, new attribute keys checked (answered as 200 with data.errors,
// not as an HTTP error), 403 without the Enterprise feature, 2 MiB body limit, 100 requests a minute per IP.
import { HttpEmulator, type Fault, type ReceivedRequest, type Reply } from './http-emulator.js';
import { RateWindow } from './rate-window.js';

const PATH = /^\/api\/v1\/client\/([^/]+)\/user$/;
const NEW_KEY = /^[a-z][a-z0-9_]*$/;
const RESERVED = new Set(['user_id', 'first_name', 'last_name']);
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const MAX_BODY_BYTES = 2 * 1024 * 1024;

export function formbricksError(status: number, code: string, message: string, details: Record<string, unknown> = {}): Reply {
  return { status, body: { code, message, details } };
}

export const formbricksFault = (status: number, code: string, message: string, details?: Record<string, unknown>): Fault => ({
  kind: 'status',
  ...formbricksError(status, code, message, details),
});

export interface FormbricksContact {
  userId: string;
  attributes: Record<string, string | number | boolean>;
}

export class FormbricksEmulator extends HttpEmulator {
  readonly contacts = new Map<string, FormbricksContact>();
  /** Attribute keys the environment has; new ones are created on first use, up to `maxAttributeKeys`. */
  readonly attributeKeys: Set<string>;
  /** Identification is an Enterprise feature: false answers 403. */
  enterprise = true;
  maxAttributeKeys = 150;
  private readonly quota = new RateWindow(100, 60_000);

  constructor(
    readonly environmentIds: string[],
    existingKeys: string[] = ['email'],
  ) {
    super((request) => this.handle(request));
    this.attributeKeys = new Set(existingKeys);
  }

  get sentBodies(): Record<string, unknown>[] {
    return this.received.filter((request) => PATH.test(request.path)).map((request) => request.body as Record<string, unknown>);
  }

  private handle(request: ReceivedRequest): Reply {
    if (!this.quota.take(request.at).allowed) return formbricksError(429, 'too_many_requests', 'Too many requests');
    const match = request.method === 'POST' ? PATH.exec(request.path) : null;
    if (!match) return formbricksError(404, 'not_found', 'Not found');
    if (!this.environmentIds.includes(match[1]))
      return formbricksError(404, 'not_found', 'Environment not found', { resource_id: match[1], resource_type: 'environment' });
    if (!this.enterprise) return formbricksError(403, 'forbidden', 'User identification is only available in the Formbricks Enterprise Edition');
    if (request.rawBody.length > MAX_BODY_BYTES) return formbricksError(413, 'payload_too_large', 'Request body exceeds 2 MiB');

    const body = request.body;
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      return formbricksError(400, 'bad_request', 'Invalid request body', { body: 'must be a JSON object' });
    const fields = body as Record<string, unknown>;
    if (typeof fields.userId !== 'string' || fields.userId.length === 0)
      return formbricksError(400, 'bad_request', 'Invalid request body', { userId: 'must be a non-empty string' });
    const attributes = fields.attributes ?? {};
    if (attributes === null || typeof attributes !== 'object' || Array.isArray(attributes)) {
      return formbricksError(400, 'bad_request', 'Invalid request body', { attributes: 'must be an object' });
    }
    for (const [key, value] of Object.entries(attributes)) {
      if (!['string', 'number', 'boolean'].includes(typeof value))
        return formbricksError(400, 'bad_request', 'Invalid request body', { [`attributes.${key}`]: 'must be a string, number or boolean' });
    }
    const values = attributes as Record<string, string | number | boolean>;
    if ('email' in values && !(typeof values.email === 'string' && EMAIL.test(values.email))) {
      return formbricksError(400, 'bad_request', 'Invalid request body', { 'attributes.email': 'Invalid email' });
    }

    // The user is identified even when some attributes are refused; data.errors lists those.
    const errors: string[] = [];
    const contact = this.contacts.get(fields.userId) ?? { userId: fields.userId, attributes: {} };
    for (const [key, value] of Object.entries(values)) {
      if (!this.attributeKeys.has(key)) {
        if (RESERVED.has(key)) {
          errors.push(`Attribute key "${key}" is reserved`);
          continue;
        }
        if (!NEW_KEY.test(key)) {
          errors.push(`Attribute key "${key}" is invalid: it must start with a lowercase letter and contain only lowercase letters, digits and underscores`);
          continue;
        }
        if (this.attributeKeys.size >= this.maxAttributeKeys) {
          errors.push(`Could not create attribute key "${key}": the environment already has the maximum of ${this.maxAttributeKeys} attribute keys`);
          continue;
        }
        this.attributeKeys.add(key);
      }
      contact.attributes[key] = value;
    }
    this.contacts.set(fields.userId, contact);
    const now = new Date();
    return {
      status: 200,
      body: {
        data: {
          state: {
            data: { userId: fields.userId, segments: [], displays: [], responses: [], lastDisplayAt: null },
            expiresAt: new Date(now.getTime() + 30 * 60_000).toISOString(),
          },
          ...(errors.length > 0 ? { errors } : {}),
        },
      },
    };
  }
}
