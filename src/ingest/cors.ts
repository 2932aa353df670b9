// CORS for the ingest endpoint, so analytics.js on a listed web origin can post to it: the origin
// check, the preflight answer, and the headers a listed origin's requests get (none for others).
import { z } from 'zod';

/** The headers analytics.js sends: Content-Type text/plain, Authorization Basic, X-Retry-Count on retries. */
const ALLOWED_HEADERS = 'Content-Type, Authorization, X-Retry-Count, Content-Encoding';
/** How long a browser may cache a preflight answer (Chromium caps it at 2 hours). */
const PREFLIGHT_MAX_AGE_SECONDS = 7200;

/**
 * A configured origin, normalised as browsers send the Origin header (lower case, no default
 * port, no path); "*" stays "*". Used as a zod transform on `cors.origins` entries.
 */
export function corsOrigin(text: string, context: z.RefinementCtx): string {
  if (text === '*') return text;
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:') || url.pathname !== '/' || url.search || url.hash || url.username) {
    context.addIssue({ code: 'custom', message: `"${text}" is not a web origin: write scheme://host[:port] with no path, e.g. https://app.example.com` });
    return z.NEVER;
  }
  return url.origin;
}

export class CorsPolicy {
  private readonly any: boolean;
  private readonly origins: Set<string>;

  /** `origins` as configured (already normalised); undefined when the source has no `cors`. */
  constructor(origins: readonly string[] | undefined) {
    this.any = origins?.includes('*') ?? false;
    this.origins = new Set(origins ?? []);
  }

  allows(origin: string | undefined): origin is string {
    return origin !== undefined && (this.any || this.origins.has(origin));
  }

  /**
   * Headers for an answer to a request from `origin`: the CORS headers when it is listed, nothing
   * otherwise. Retry-After is exposed so analytics.js can read it on a 429 and wait that long.
   */
  headers(origin: string | undefined): Record<string, string> {
    // Vary: the answer depends on Origin, so a cache between must not serve one origin's to another.
    if (!this.allows(origin)) return this.origins.size > 0 ? { Vary: 'Origin' } : {};
    return { 'Access-Control-Allow-Origin': origin, 'Access-Control-Expose-Headers': 'Retry-After', Vary: 'Origin' };
  }

  /** Headers of a successful preflight answer for a listed origin. */
  preflightHeaders(origin: string): Record<string, string> {
    return {
      'Access-Control-Allow-Origin': origin,
      'Access-Control-Allow-Methods': 'POST',
      'Access-Control-Allow-Headers': ALLOWED_HEADERS,
      'Access-Control-Max-Age': String(PREFLIGHT_MAX_AGE_SECONDS),
      Vary: 'Origin',
    };
  }
}
