// Segment source: the profiles that `backflow ingest` (or the daemon) built from Segment events,
// read as rows in the order they changed, so a sync sends only the profiles changed since its cursor.
import type Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { corsOrigin } from '../ingest/cors.js';
import { retentionSetting } from '../ingest/retention.js';
import { openStoreFile } from '../ingest/store-schema.js';
import type { Row, SourceReader, SourceType } from './contract.js';

const settings = z.strictObject({
  listen: z
    .string()
    .regex(/^[^:]+:\d+$/, 'expected host:port, e.g. 127.0.0.1:8088')
    .default('127.0.0.1:8088')
    .describe('Address the Segment-compatible endpoint listens on (host:port).'),
  writeKeys: z
    .union([z.string().min(1, 'must not be empty'), z.array(z.string().min(1, 'must not be empty')).min(1, 'list at least one write key')])
    .transform((keys) => [keys].flat())
    .describe('Write keys a client may send (Basic-auth user name, or writeKey in the body). Read them from env vars.'),
  store: z
    .string()
    .min(1)
    .default('./.backflow/events.db')
    .describe('SQLite file holding the events and profiles, relative to the config file (separate from the state).'),
  cors: z
    .strictObject({
      origins: z
        .array(z.string().transform(corsOrigin))
        .min(1, 'list at least one origin, e.g. https://app.example.com')
        .describe('Web origins (scheme://host[:port]) whose pages may post events from the browser; "*" allows any origin.'),
    })
    .optional()
    .describe('Answer CORS preflights and add CORS headers for these origins, so analytics.js in a browser can post here. Other origins get no CORS headers.'),
  retention: retentionSetting,
});

export type SegmentSettings = z.output<typeof settings>;

/** The columns of a profile row, in order. */
export const PROFILE_COLUMNS = ['userId', 'anonymousIds', 'traits', 'groupId', 'group', 'firstSeenAt', 'lastSeenAt', 'eventCount', 'eventCounts', 'changeSeq'];
const CURSOR = 'changeSeq';

interface StoredRow {
  user_id: string;
  anonymous_ids: string;
  traits: string;
  group_id: string | null;
  group_traits: string | null;
  first_seen_at: string;
  last_seen_at: string;
  event_count: number;
  event_counts: string;
  change_seq: number;
}

const toRow = (row: StoredRow): Row => ({
  userId: row.user_id,
  anonymousIds: JSON.parse(row.anonymous_ids),
  traits: JSON.parse(row.traits),
  groupId: row.group_id,
  group: row.group_traits === null ? null : JSON.parse(row.group_traits),
  firstSeenAt: row.first_seen_at,
  lastSeenAt: row.last_seen_at,
  eventCount: row.event_count,
  eventCounts: JSON.parse(row.event_counts),
  changeSeq: row.change_seq,
});

// Only identified profiles are rows: a profile with only anonymous ids has no key a destination knows.
const PAGE = `
  select p.user_id, p.traits, p.group_id, g.traits as group_traits, p.first_seen_at, p.last_seen_at,
         p.event_count, p.event_counts, p.change_seq,
         (select json_group_array(anonymous_id) from (select anonymous_id from identities where profile_id = p.id order by anonymous_id)) as anonymous_ids
  from profiles p left join groups g on g.group_id = p.group_id
  where p.user_id is not null and p.change_seq > ?
  order by p.change_seq
  limit ?`;

function startAfter(cursorColumn: string | undefined, cursor: unknown): number {
  if (cursorColumn !== undefined && cursorColumn !== CURSOR) {
    throw new Error(
      `a segment source reads profiles in the order they changed: set cursor: ${CURSOR} in this sync (or leave cursor out), not "${cursorColumn}"`,
    );
  }
  if (cursor === null || cursor === undefined) return 0;
  const after = Number(cursor);
  if (!Number.isInteger(after)) throw new Error(`the saved cursor ${JSON.stringify(cursor)} is not a ${CURSOR}: run this sync with --full once`);
  return after;
}

export const segmentSource: SourceType<typeof settings> = {
  type: 'segment',
  title: 'Segment-compatible event stream: profiles built from identify, group, track and alias calls',
  settings,
  needsQuery: false,
  secrets: ['writeKeys'],
  defaults: { primaryKey: 'userId', cursor: CURSOR },
  async open(config, { configDir }): Promise<SourceReader> {
    const file = path.resolve(configDir, config.store);
    const open = new Set<Database.Database>();
    return {
      async *read(request) {
        let after = startAfter(request.cursorColumn, request.cursor);
        // No store yet: no event has arrived, so there is no profile to read.
        if (!fs.existsSync(file)) return;
        const db = openStoreFile(file, { readonly: true });
        open.add(db);
        try {
          // One read transaction: every page comes from the same snapshot, so a profile that changes
          // during the read is read once, and again by the next run.
          db.exec('begin');
          const page = db.prepare(PAGE);
          for (;;) {
            const rows = page.all(after, request.batchSize) as StoredRow[];
            if (rows.length === 0) break;
            after = rows[rows.length - 1].change_seq;
            yield rows.map(toRow);
            if (rows.length < request.batchSize) break;
          }
          db.exec('commit');
        } finally {
          open.delete(db);
          db.close();
        }
      },
      async columns(request) {
        startAfter(request.cursorColumn, request.cursor);
        return PROFILE_COLUMNS;
      },
      async close() {
        for (const db of open) db.close();
        open.clear();
      },
    };
  },
};
