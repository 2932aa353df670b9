// Write-key authentication as the Tracking API does it: the key is the Basic-auth user name (with or
// without the trailing colon), or `writeKey` in the JSON body.
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (text: string) => createHash('sha256').update(text).digest();

export class WriteKeys {
  private readonly digests: Buffer[];

  constructor(keys: readonly string[]) {
    this.digests = keys.map(digest);
  }

  /** Compares digests in constant time, so response timing does not reveal how much of a key matched. */
  accepts(key: string): boolean {
    const candidate = digest(key);
    let match = false;
    for (const known of this.digests) match = timingSafeEqual(known, candidate) || match;
    return match;
  }
}

/**
 * The write key of an `Authorization: Basic …` header: its user name. undefined when there is no
 * Basic header (the key may then be in the body); "" when the header is there but carries no key.
 */
export function basicAuthKey(header: string | undefined): string | undefined {
  const match = header?.match(/^\s*Basic\s+(\S*)\s*$/i);
  if (!match) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon === -1 ? decoded : decoded.slice(0, colon);
}
