// The event store file (events.db): its versioned schema, and opening it for writing (ingest) or
// reading (the segment source). A SQLite file of its own, so ingest and sync state never contend.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';

export class EventStoreError extends Error {}

// PRAGMA user_version counts the migrations applied; a released migration is never edited.
const MIGRATIONS: readonly string[] = [
  `
  -- Every accepted message; the unique messageId is the deduplication of retried deliveries.
  -- (A rowid table: bodies run to 32 KB, too large to sit well in a WITHOUT ROWID b-tree.)
  create table events (
    id integer primary key,
    message_id text not null unique,
    type text not null,
    user_id text,
    anonymous_id text,
    timestamp text not null,
    received_at text not null,
    body text not null
  );

  -- One profile per userId (user_id null: only anonymous ids seen so far). JSON columns hold the
  -- traits, the time each trait was set, and track counts per event name. change_seq orders changes:
  -- it is taken from one counter in the write transaction, so a reader that saw N saw every change <= N.
  create table profiles (
    id integer primary key,
    user_id text unique,
    traits text not null,
    trait_times text not null,
    group_id text,
    group_time text,
    first_seen_at text not null,
    last_seen_at text not null,
    event_count integer not null,
    event_counts text not null,
    change_seq integer not null
  );
  create unique index profiles_by_change on profiles (change_seq);
  create index profiles_by_group on profiles (group_id);

  create table identities (
    anonymous_id text primary key,
    profile_id integer not null
  ) without rowid;
  create index identities_by_profile on identities (profile_id);

  create table groups (
    group_id text primary key,
    traits text not null,
    trait_times text not null
  ) without rowid;
  `,
];

/** Opens the store; `readonly` never creates or migrates it (a missing file is the caller's case). */
export function openStoreFile(file: string, options: { readonly: boolean }): Database.Database {
  let db: Database.Database;
  try {
    if (!options.readonly) fs.mkdirSync(path.dirname(file), { recursive: true });
    db = new Database(file, { readonly: options.readonly, fileMustExist: options.readonly });
    db.pragma('busy_timeout = 10000');
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      // FULL: every commit is fsynced before ingest answers 200, so an acknowledged event survives a
      // crash of the process and of the machine. Group commit keeps that cheap under load.
      db.pragma('synchronous = FULL');
      // The writer re-reads the same hot profiles all day: keep up to 64 MB of pages in memory.
      db.pragma('cache_size = -65536');
    }
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      db.close();
      throw new EventStoreError(
        `event store ${file} was written by a newer Backflow (schema ${version}, this one knows ${MIGRATIONS.length}): upgrade Backflow`,
      );
    }
    if (version < MIGRATIONS.length) {
      if (options.readonly) {
        db.close();
        throw new EventStoreError(
          `event store ${file} has schema ${version}, older than this Backflow's: start backflow ingest (or the daemon) once to migrate it`,
        );
      }
      db.transaction(() => {
        for (const migration of MIGRATIONS.slice(version)) db.exec(migration);
        db.pragma(`user_version = ${MIGRATIONS.length}`);
      }).immediate();
    }
    db.prepare('select count(*) from profiles').get();
  } catch (error) {
    if (error instanceof EventStoreError) throw error;
    const code = (error as { code?: string }).code ?? '';
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
      throw new EventStoreError(
        `event store ${file} is not a Backflow event store (${(error as Error).message}); it was not changed. Point the source's store: at another file.`,
      );
    }
    throw new EventStoreError(`cannot open event store ${file}: ${(error as Error).message}. Check its permissions and free disk space.`);
  }
  return db;
}
