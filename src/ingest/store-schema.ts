// The event store file (events.db): its versioned schema, and opening it for writing (ingest) or
// reading (the segment source). A SQLite file of its own, so ingest and sync state never contend.
import type Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';
import { StateError } from '../errors.js';
import { openVersioned, type SqliteFileKind, type VersionedFile } from '../sqlite/open.js';

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

const EVENT_STORE: SqliteFileKind = {
  noun: 'event store',
  valid: 'Backflow event store',
  setting: "the segment source's store:",
  restore: 'Restore it from a backup, or move it aside to start a new one (events not yet synced are lost with it).',
  fullDisk: 'Free some space: the events it was storing were not acknowledged, so the senders retry them.',
  error: StateError,
};

const EVENT_STORE_SCHEMA: VersionedFile = {
  kind: EVENT_STORE,
  migrations: MIGRATIONS,
  tables: ['events', 'profiles', 'identities', 'groups'],
  writerPragmas: [
    // FULL: every commit is fsynced before ingest answers 200, so an acknowledged event survives a
    // crash of the process and of the machine. Group commit keeps that cheap under load.
    'synchronous = FULL',
    // The writer re-reads the same hot profiles all day: keep up to 64 MB of pages in memory.
    'cache_size = -65536',
  ],
};

/** Opens the store; `readonly` never creates or migrates it (a missing file is the caller's case). */
export function openStoreFile(file: string, options: { readonly: boolean }): Database.Database {
  if (!options.readonly) {
    try {
      fs.mkdirSync(path.dirname(file), { recursive: true });
    } catch (error) {
      throw new StateError(
        `cannot create the event store's folder ${path.dirname(file)}: ${(error as Error).message}; check its permissions, or point the store: setting at another folder`,
      );
    }
  }
  const { db, olderVersion } = openVersioned(file, EVENT_STORE_SCHEMA, options);
  if (olderVersion !== undefined) {
    db.close();
    throw new StateError(
      `event store ${file} has schema ${olderVersion}, older than this Backflow's: start backflow ingest (or the daemon) once to migrate it`,
    );
  }
  return db;
}
