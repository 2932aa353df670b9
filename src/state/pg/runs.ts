// The run history in PostgreSQL: the same rows as SQLite's, turned into the same domain objects.
import {
  toRejectionRecord,
  toRunRecord,
  type RejectionRecord,
  type RejectionRow,
  type RunIssue,
  type RunOutcome,
  type RunRecord,
  type RunRow,
} from '../history.js';
import type { Query, Session } from './session.js';

const now = () => new Date().toISOString();

export class PgRuns {
  constructor(private readonly session: Session) {}

  private query<T>(work: (query: Query) => Promise<T>): Promise<T> {
    return this.session.exclusive(work);
  }

  private async rows<T>(text: string, values: unknown[]): Promise<T[]> {
    return this.query(async (q) => (await q(text, values)).rows as T[]);
  }

  async startRun(sync: string, full: boolean): Promise<number> {
    const [row] = await this.rows<{ id: number }>('insert into runs (sync, started_at, "full", pid) values ($1, $2, $3, $4) returning id', [
      sync,
      now(),
      full ? 1 : 0,
      process.pid,
    ]);
    return row.id;
  }

  async finishRun(id: number, outcome: RunOutcome, counts: Record<string, number>, error?: string): Promise<void> {
    await this.rows('update runs set ended_at = $1, outcome = $2, counts = $3, error = $4 where id = $5', [
      now(),
      outcome,
      JSON.stringify(counts),
      error ?? null,
      id,
    ]);
  }

  async recordLiveCounts(id: number, counts: Record<string, number>): Promise<void> {
    try {
      await this.rows("update runs set counts = $1 where id = $2 and outcome = 'running'", [JSON.stringify(counts), id]);
    } catch {
      // Best effort: the next tick, or the run's end, writes them.
    }
  }

  async lastRuns(): Promise<RunRecord[]> {
    return (await this.rows<RunRow>('select * from runs where id in (select max(id) from runs group by sync) order by sync', [])).map(toRunRecord);
  }

  async runs(sync: string | undefined, limit: number, offset = 0): Promise<RunRecord[]> {
    const rows = sync
      ? await this.rows<RunRow>('select * from runs where sync = $1 order by id desc limit $2 offset $3', [sync, limit, offset])
      : await this.rows<RunRow>('select * from runs order by id desc limit $1 offset $2', [limit, offset]);
    return rows.map(toRunRecord);
  }

  async run(id: number): Promise<RunRecord | undefined> {
    const [row] = await this.rows<RunRow>('select * from runs where id = $1', [id]);
    return row && toRunRecord(row);
  }

  async runCount(sync: string | undefined): Promise<number> {
    const [row] = sync
      ? await this.rows<{ n: number }>('select count(*)::int as n from runs where sync = $1', [sync])
      : await this.rows<{ n: number }>('select count(*)::int as n from runs', []);
    return row.n;
  }

  async runIssues(runId: number, limit: number, offset = 0): Promise<RunIssue[]> {
    return this.rows<RunIssue>('select key, class, status, reason from run_issues where run_id = $1 order by seq limit $2 offset $3', [runId, limit, offset]);
  }

  async runIssueCount(runId: number): Promise<number> {
    const [row] = await this.rows<{ n: number }>('select count(*)::int as n from run_issues where run_id = $1', [runId]);
    return row.n;
  }

  async rejections(sync: string | undefined, limit: number): Promise<RejectionRecord[]> {
    const rows = sync
      ? await this.rows<RejectionRow>('select * from rejections where sync = $1 order by last_at desc, key limit $2', [sync, limit])
      : await this.rows<RejectionRow>('select * from rejections order by sync, last_at desc, key limit $1', [limit]);
    return rows.map(toRejectionRecord);
  }

  async lastCompletedAt(sync: string): Promise<string | null> {
    const [row] = await this.rows<{ at: string | null }>("select max(ended_at) as at from runs where sync = $1 and outcome in ('success', 'partial')", [sync]);
    return row.at;
  }

  async check(): Promise<void> {
    await this.rows('select count(*) from runs', []);
  }
}
