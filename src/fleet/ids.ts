// Names and ids the fleet shares through pg-boss: every member must derive the same ones on its own.
import { createHash } from 'node:crypto';

/**
 * The id of the job for `sync`'s scheduled tick at `instant`: the same on every member, so however
 * many members send it, pg-boss keeps one (its insert is `on conflict do nothing` on the queue and id).
 * A UUID (RFC 9562 version 8, the custom layout) over the SHA-256 of the sync and the instant.
 */
export function tickJobId(sync: string, instant: Date): string {
  const hash = createHash('sha256').update(`backflow tick\0${sync}\0${instant.toISOString()}`).digest();
  hash[6] = (hash[6] & 0x0f) | 0x80; // version 8
  hash[8] = (hash[8] & 0x3f) | 0x80; // the RFC variant
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Each sync has its own queue (sync names are letters, digits, "_", "-" and ".", all fine in a queue name). */
export function queueFor(sync: string): string {
  return `sync.${sync}`;
}

/** The sync a queue of ours belongs to, or undefined for another queue. */
export function syncOfQueue(queue: string): string | undefined {
  return queue.startsWith('sync.') ? queue.slice('sync.'.length) : undefined;
}

/**
 * pg-boss's schema, beside the state's: `<state schema>_jobs`. pg-boss writes its schema name into
 * its SQL unquoted, so it must be a plain lowercase identifier (and at most 50 characters, its limit).
 */
export function jobsSchemaFor(stateSchema: string): string {
  const schema = `${stateSchema}_jobs`;
  if (!/^[a-z_][a-z0-9_]*$/.test(schema) || schema.length > 50) {
    throw new Error(
      `state.schema "${stateSchema}" cannot name the fleet's job schema "${schema}": use lowercase letters, digits and "_" (at most 45 characters) for state.schema`,
    );
  }
  return schema;
}
