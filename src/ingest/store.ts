// The ingest side of the event store: events that arrive close together are written in one
// transaction (group commit), each deduplicated by messageId and folded into its profile, and only
// once that transaction is on disk are their requests answered. Expired events are pruned between
// commits (retention.ts).
import type Database from 'better-sqlite3';
import fs from 'node:fs';
import { MAX_PENDING_EVENTS } from './limits.js';
import type { IncomingEvent } from './messages.js';
import { prepare, ProfileSession, type Statements } from './profile-session.js';
import { applyEvent } from './profiles.js';
import { Pruner, type PruneReport } from './retention.js';
import { openStoreFile } from './store-schema.js';

export type WriteOutcome = 'stored' | 'duplicate';

interface PendingWrite {
  events: IncomingEvent[];
  resolve: (outcomes: WriteOutcome[]) => void;
  reject: (error: Error) => void;
}

/** Thrown by write() when too many events already wait for a commit: the client should retry later. */
export class StoreOverloaded extends Error {}

export interface EventStoreOptions {
  /** Events received longer ago than this are pruned in the background; undefined keeps them all. */
  retentionMs?: number;
  onPrune?: (report: PruneReport) => void;
  onPruneError?: (error: Error) => void;
}

export class EventStore {
  private readonly db: Database.Database;
  private readonly s: Statements;
  private readonly pruner: Pruner | undefined;
  private pending: PendingWrite[] = [];
  private pendingEvents = 0;
  private scheduled = false;

  constructor(
    readonly file: string,
    options: EventStoreOptions = {},
  ) {
    this.db = openStoreFile(file, { readonly: false });
    this.s = prepare(this.db);
    if (options.retentionMs !== undefined) {
      this.pruner = new Pruner(this.db, options.retentionMs, {
        busy: () => this.scheduled,
        onPrune: options.onPrune,
        onError: options.onPruneError,
      });
      this.pruner.start();
    }
  }

  /** Events pruned since the store was opened. */
  get pruned(): number {
    return this.pruner?.pruned ?? 0;
  }

  /** Bytes the store takes on disk: the database file and its write-ahead log. */
  sizeBytes(): number {
    let bytes = 0;
    for (const file of [this.file, `${this.file}-wal`]) {
      try {
        bytes += fs.statSync(file).size;
      } catch {
        // No WAL right now (it is removed when the last connection closes).
      }
    }
    return bytes;
  }

  /**
   * Stores events durably. Resolves, per event, whether it was new or a retried delivery of a
   * messageId already stored, once the transaction holding it is committed and synced to disk.
   * Rejects with StoreOverloaded, storing nothing, when the queue of events waiting for a commit is full.
   */
  write(events: IncomingEvent[]): Promise<WriteOutcome[]> {
    if (events.length === 0) return Promise.resolve([]);
    if (this.pendingEvents + events.length > MAX_PENDING_EVENTS) {
      return Promise.reject(new StoreOverloaded(`over ${MAX_PENDING_EVENTS} events would wait for one commit`));
    }
    this.pendingEvents += events.length;
    return new Promise((resolve, reject) => {
      this.pending.push({ events, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // Requests that arrive while this tick runs share one transaction (and one fsync).
        setImmediate(() => this.flush());
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const work = this.pending;
    this.pending = [];
    this.pendingEvents = 0;
    if (work.length === 0) return this.pruner?.afterCommit();
    let outcomes: WriteOutcome[][];
    try {
      outcomes = this.db
        .transaction(() => {
          const session = new ProfileSession(this.s);
          const result = work.map(({ events }) => events.map((event) => this.ingest(session, event)));
          session.save();
          return result;
        })
        .immediate();
    } catch (error) {
      for (const entry of work) entry.reject(error as Error);
      this.pruner?.afterCommit();
      return;
    }
    work.forEach((entry, index) => entry.resolve(outcomes[index]));
    this.pruner?.afterCommit();
  }

  private ingest(session: ProfileSession, event: IncomingEvent): WriteOutcome {
    const inserted = this.s.insertEvent.run(event.messageId, event.type, event.userId, event.anonymousId, event.timestamp, event.receivedAt, event.body);
    if (inserted.changes === 0) return 'duplicate';
    const profile = session.resolve(event);
    applyEvent(profile, event);
    if (event.type === 'group' && event.traits) session.mergeGroup(event.groupId!, event.traits, event.timestamp);
    return 'stored';
  }

  /** Closes the file once every write already handed in is committed. */
  close(): void {
    this.pruner?.stop();
    this.flush();
    if (this.db.open) this.db.close();
  }
}
