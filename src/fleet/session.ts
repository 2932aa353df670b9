// A member's connection to the fleet's budgets: one statement at a time (pg is dropping its own
// queue of concurrent queries on one client), each prepared once by name so the server parses and
// plans the few short statements a budget runs once per connection, not once per request.
import type pg from 'pg';

/** A statement of the budget: its text, and the name it is prepared under. */
export interface Statement {
  name: string;
  text: string;
}

/** What a budget runs its statements on. */
export interface Queryable {
  run(statement: Statement, values: unknown[]): Promise<Record<string, unknown>[]>;
}

export class Session implements Queryable {
  private tail: Promise<unknown> = Promise.resolve();
  /** Statements run (the bench divides them by requests). */
  statements = 0;
  /** Called with each statement's time from queued to answered (ms), for the bench. */
  onStatement?: (ms: number) => void;

  constructor(readonly client: pg.Client) {}

  run(statement: Statement, values: unknown[]): Promise<Record<string, unknown>[]> {
    const queued = performance.now();
    const result = this.tail.then(() => this.client.query({ name: statement.name, text: statement.text, values }));
    this.tail = result.catch(() => undefined);
    return result.then((answer) => {
      this.statements++;
      this.onStatement?.(performance.now() - queued);
      return answer.rows as Record<string, unknown>[];
    });
  }
}
