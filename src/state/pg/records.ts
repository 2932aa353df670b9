// What is known of each record, and the writes that change it, in PostgreSQL: the same rows as the
// SQLite store (src/state/store.ts), each write one transaction. A batch of keys travels as one
// array parameter (`= any($2)`, `unnest`), never as one statement per key. A write by a run that
// holds the sync's lock first checks, in its own transaction, that it still does (`fence`): a member
// that was paused and taken over never commits over the one that took over.
import { toStandingRejection, type RejectionRow, type StandingRejection } from '../history.js';
import type { Confirmation, JobResult, NewRunIssue } from '../contract.js';
import type { Query, Session } from './session.js';

const now = () => new Date().toISOString();

/** Checks, inside a write's transaction, that this run still holds the sync's lock (throws if not). */
export type Fence = (query: Query, sync: string) => Promise<void>;

/** The last of each key wins, as it would with one upsert per record in order. */
function lastPerKey<T extends { key: string }>(items: T[]): T[] {
  return [...new Map(items.map((item) => [item.key, item])).values()];
}

export class PgRecords {
  constructor(
    private readonly session: Session,
    private readonly fence: Fence,
  ) {}

  private read<T>(work: (query: Query) => Promise<T>): Promise<T> {
    return this.session.exclusive(work);
  }

  /** A write of the sync's state, fenced by its lock when this connection holds it. */
  private write<T>(sync: string, work: (query: Query) => Promise<T>): Promise<T> {
    return this.session.transaction(async (query) => {
      await this.fence(query, sync);
      return work(query);
    });
  }

  async recordCount(sync: string): Promise<number> {
    return this.read(async (q) => (await q('select count(*)::int as n from records where sync = $1', [sync])).rows[0].n as number);
  }

  async lookup(sync: string, keys: string[]): Promise<{ records: Map<string, string>; rejections: Map<string, StandingRejection> }> {
    return this.read(async (q) => {
      const records = await q({
        text: 'select key, fingerprint from records where sync = $1 and key = any($2)',
        values: [sync, keys],
        rowMode: 'array',
      } as never);
      const rejections = new Map<string, StandingRejection>();
      for (const row of (await q('select * from rejections where sync = $1 and key = any($2)', [sync, keys])).rows as RejectionRow[]) {
        rejections.set(row.key, toStandingRejection(row));
      }
      return { records: new Map(records.rows as [string, string][]), rejections };
    });
  }

  private async column(sync: string, keys: string[], column: 'row_hash' | 'source_hash' | 'payload'): Promise<Map<string, string | null>> {
    if (keys.length === 0) return new Map();
    return this.read(
      async (q) =>
        new Map(
          (await q({ text: `select key, ${column} from records where sync = $1 and key = any($2)`, values: [sync, keys], rowMode: 'array' } as never)).rows as [
            string,
            string | null,
          ][],
        ),
    );
  }

  rowHashes(sync: string, keys: string[]) {
    return this.column(sync, keys, 'row_hash');
  }

  sourceHashes(sync: string, keys: string[]) {
    return this.column(sync, keys, 'source_hash');
  }

  async confirmedPayloads(sync: string, keys: string[]): Promise<Map<string, string>> {
    return (await this.column(sync, keys, 'payload')) as Map<string, string>;
  }

  async pendingJobs(sync: string): Promise<string[]> {
    return this.read(async (q) =>
      (await q('select job_id from pending_records where sync = $1 group by job_id order by min(sent_at), job_id', [sync])).rows.map(
        (row: { job_id: string }) => row.job_id,
      ),
    );
  }

  async pendingVersions(sync: string): Promise<Map<string, Set<string>>> {
    const rows = await this.read(async (q) => (await q('select key, fingerprint from pending_records where sync = $1', [sync])).rows as Confirmation[]);
    const versions = new Map<string, Set<string>>();
    for (const row of rows) {
      let set = versions.get(row.key);
      if (!set) versions.set(row.key, (set = new Set()));
      set.add(row.fingerprint);
    }
    return versions;
  }

  async getCursor(sync: string): Promise<unknown> {
    const row = await this.read(async (q) => (await q('select value from cursors where sync = $1', [sync])).rows[0] as { value: string } | undefined);
    return row ? JSON.parse(row.value) : null;
  }

  async generation(sync: string): Promise<number> {
    return this.read(async (q) => ((await q('select generation from generations where sync = $1', [sync])).rows[0]?.generation as number) ?? 0);
  }

  async mappingHash(sync: string): Promise<string | null> {
    return this.read(async (q) => ((await q('select hash from mappings where sync = $1', [sync])).rows[0]?.hash as string) ?? null);
  }

  // --- writes ---------------------------------------------------------------------------------

  async commitConfirmed(sync: string, runId: number | null, confirmed: Confirmation[]): Promise<void> {
    if (confirmed.length === 0) return;
    await this.write(sync, (q) => upsertConfirmed(q, sync, runId, confirmed));
  }

  async recordPending(sync: string, runId: number, jobId: string, records: Confirmation[]): Promise<void> {
    if (records.length === 0) return;
    const rows = [...new Map(records.map((record) => [`${record.key}\u0000${record.fingerprint}`, record])).values()];
    await this.write(sync, (q) =>
      q(
        `insert into pending_records (sync, key, fingerprint, payload, row_hash, source_hash, job_id, run_id, sent_at)
         select $1, t.key, t.fingerprint, t.payload, t.row_hash, t.source_hash, $7, $8, $9
         from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) as t(key, fingerprint, payload, row_hash, source_hash)
         on conflict (sync, key, fingerprint) do update set job_id = excluded.job_id, run_id = excluded.run_id, sent_at = excluded.sent_at`,
        [
          sync,
          rows.map((r) => r.key),
          rows.map((r) => r.fingerprint),
          rows.map((r) => JSON.stringify(r.payload)),
          rows.map((r) => r.rowHash ?? null),
          rows.map((r) => r.sourceHash ?? null),
          jobId,
          runId,
          now(),
        ],
      ),
    );
  }

  async settleJob(sync: string, runId: number, jobId: string, result: JobResult): Promise<string[]> {
    return this.write(sync, async (q) => {
      const rows = (
        await q('delete from pending_records where sync = $1 and job_id = $2 returning key, fingerprint, payload, row_hash, source_hash', [sync, jobId])
      ).rows as { key: string; fingerprint: string; payload: string; row_hash: string | null; source_hash: string | null }[];
      rows.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      if (result.kind === 'completed') {
        const confirmed = rows.map((row) => ({
          key: row.key,
          fingerprint: row.fingerprint,
          payload: JSON.parse(row.payload) as unknown,
          rowHash: row.row_hash ?? undefined,
          sourceHash: row.source_hash ?? undefined,
        }));
        if (confirmed.length > 0) await upsertConfirmed(q, sync, runId, confirmed);
      } else {
        await insertIssues(
          q,
          sync,
          runId,
          rows.map((row) => ({ key: row.key, fingerprint: row.fingerprint, status: null, reason: result.reason, class: 'failed' as const })),
        );
      }
      return rows.map((row) => row.key);
    });
  }

  async recordIssues(sync: string, runId: number, issues: NewRunIssue[]): Promise<void> {
    if (issues.length === 0) return;
    await this.write(sync, (q) => insertIssues(q, sync, runId, issues));
  }

  async setRowHashes(sync: string, rows: { key: string; rowHash: string }[]): Promise<void> {
    await this.setColumn(
      sync,
      'row_hash',
      rows.map((row) => [row.key, row.rowHash]),
    );
  }

  async setSourceHashes(sync: string, rows: { key: string; sourceHash: string }[]): Promise<void> {
    await this.setColumn(
      sync,
      'source_hash',
      rows.map((row) => [row.key, row.sourceHash]),
    );
  }

  private async setColumn(sync: string, column: 'row_hash' | 'source_hash', pairs: [string, string][]): Promise<void> {
    if (pairs.length === 0) return;
    await this.write(sync, (q) =>
      q(`update records r set ${column} = t.value from unnest($2::text[], $3::text[]) as t(key, value) where r.sync = $1 and r.key = t.key`, [
        sync,
        pairs.map((pair) => pair[0]),
        pairs.map((pair) => pair[1]),
      ]),
    );
  }

  async setCursor(sync: string, value: unknown): Promise<void> {
    await this.write(sync, (q) =>
      q(
        'insert into cursors (sync, value, updated_at) values ($1, $2, $3) on conflict (sync) do update set value = excluded.value, updated_at = excluded.updated_at',
        [sync, JSON.stringify(value), now()],
      ),
    );
  }

  async setMappingHash(sync: string, hash: string): Promise<void> {
    await this.write(sync, (q) =>
      q(
        'insert into mappings (sync, hash, updated_at) values ($1, $2, $3) on conflict (sync) do update set hash = excluded.hash, updated_at = excluded.updated_at',
        [sync, hash, now()],
      ),
    );
  }

  async reset(sync: string): Promise<{ records: number; runId: number }> {
    return this.write(sync, async (q) => {
      const records = (await q('delete from records where sync = $1', [sync])).rowCount ?? 0;
      for (const table of ['rejections', 'pending_records', 'cursors', 'mappings']) await q(`delete from ${table} where sync = $1`, [sync]);
      await bumpGeneration(q, sync);
      const at = now();
      const runId = (
        await q("insert into runs (sync, started_at, ended_at, outcome, counts, pid) values ($1, $2, $2, 'reset', $3, $4) returning id", [
          sync,
          at,
          JSON.stringify({ forgotten: records }),
          process.pid,
        ])
      ).rows[0].id as number;
      return { records, runId };
    });
  }
}

function bumpGeneration(q: Query, sync: string) {
  return q('insert into generations (sync, generation) values ($1, 1) on conflict (sync) do update set generation = generations.generation + 1', [sync]);
}

async function upsertConfirmed(q: Query, sync: string, runId: number | null, confirmed: Confirmation[]): Promise<void> {
  const rows = lastPerKey(confirmed);
  const keys = rows.map((row) => row.key);
  await q(
    `insert into records (sync, key, fingerprint, payload, sent_at, run_id, row_hash, source_hash)
     select $1, t.key, t.fingerprint, t.payload, $7, $8, t.row_hash, t.source_hash
     from unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) as t(key, fingerprint, payload, row_hash, source_hash)
     on conflict (sync, key) do update set fingerprint = excluded.fingerprint, payload = excluded.payload, sent_at = excluded.sent_at,
       run_id = excluded.run_id, row_hash = excluded.row_hash, source_hash = excluded.source_hash`,
    [
      sync,
      keys,
      rows.map((row) => row.fingerprint),
      rows.map((row) => JSON.stringify(row.payload)),
      rows.map((row) => row.rowHash ?? null),
      rows.map((row) => row.sourceHash ?? null),
      now(),
      runId,
    ],
  );
  await q('delete from rejections where sync = $1 and key = any($2)', [sync, keys]);
  await bumpGeneration(q, sync);
}

async function insertIssues(q: Query, sync: string, runId: number, issues: NewRunIssue[]): Promise<void> {
  if (issues.length === 0) return;
  // Reasons arrive redacted (PgStateStore: the secrets are known to the main thread).
  const reasons = issues.map((issue) => issue.reason);
  const refused = issues.filter((issue) => issue.class !== 'invalid');
  if (refused.length > 0) {
    const times = new Map<string, number>();
    for (const issue of refused) times.set(issue.key, (times.get(issue.key) ?? 0) + 1);
    const rows = lastPerKey(refused);
    await q(
      `insert into rejections (sync, key, fingerprint, status, reason, attempts, first_at, last_at, run_id)
       select $1, t.key, t.fingerprint, t.status, t.reason, t.attempts, $7, $7, $8
       from unnest($2::text[], $3::text[], $4::int[], $5::text[], $6::int[]) as t(key, fingerprint, status, reason, attempts)
       on conflict (sync, key) do update set
         attempts = rejections.attempts + excluded.attempts,
         first_at = case when rejections.fingerprint = excluded.fingerprint then rejections.first_at else excluded.first_at end,
         fingerprint = excluded.fingerprint, status = excluded.status, reason = excluded.reason,
         last_at = excluded.last_at, run_id = excluded.run_id`,
      [
        sync,
        rows.map((row) => row.key),
        rows.map((row) => row.fingerprint),
        rows.map((row) => row.status),
        rows.map((row) => row.reason),
        rows.map((row) => times.get(row.key)!),
        now(),
        runId,
      ],
    );
  }
  await q(
    `insert into run_issues (run_id, key, class, status, reason)
     select $1, t.key, t.class, t.status, t.reason from unnest($2::text[], $3::text[], $4::int[], $5::text[]) with ordinality as t(key, class, status, reason, n) order by t.n`,
    [runId, issues.map((issue) => issue.key), issues.map((issue) => issue.class), issues.map((issue) => issue.status), reasons],
  );
  await bumpGeneration(q, sync);
}
