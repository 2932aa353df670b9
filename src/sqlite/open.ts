// Opening a versioned SQLite file of Backflow's own: the state file and the ingest event store. One
// opener, so both refuse a foreign file, migrate the same way, and explain SQLite's failures as what
// they mean for the user and what to do.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import path from 'node:path';

export const BUSY_TIMEOUT_MS = 10_000;

/** What a file is to the user, for the messages about it. */
export interface SqliteFileKind {
  /** How messages name it: "state file", "event store". */
  noun: string;
  /** What a valid file is: "Backflow state database". */
  valid: string;
  /** The setting that points at it: "state.path". */
  setting: string;
  /** What to do with a damaged file. */
  restore: string;
  /** What a write that fails on a full disk means for the data. */
  fullDisk: string;
  /** The error class the user's messages are thrown as. */
  error: new (message: string) => Error;
}

export interface VersionedFile {
  kind: SqliteFileKind;
  /** PRAGMA user_version counts the migrations applied; a released migration is never edited. */
  migrations: readonly string[];
  /** Tables whose first page is read once opened: a damaged file is refused, never silently reset. */
  tables: readonly string[];
  /** Pragmas for a writer, after journal_mode = WAL (synchronous, cache size). */
  writerPragmas: readonly string[];
}

export interface OpenedFile {
  db: Database.Database;
  /** Opened read-only with an older schema: the version found (not migrated, not checked). */
  olderVersion?: number;
}

function isWritable(folder: string): boolean {
  try {
    fs.accessSync(folder, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * A SQLite failure on the file, said as what it means for the user and what to do; anything else is
 * returned as it is. `opening`: the file was only being opened, so it was not changed.
 */
export function explainSqliteError(error: unknown, file: string, kind: SqliteFileKind, opening: boolean): unknown {
  if (error instanceof kind.error) return error;
  const code = String((error as { code?: unknown }).code ?? '');
  const reason = `${(error as Error).message} (${code})`;
  const fail = (message: string) => new kind.error(message);
  if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
    const kept = opening ? ' It was not changed.' : '';
    return fail(`${kind.noun} ${file} is ${opening ? `not a valid ${kind.valid}` : 'damaged'} (${(error as Error).message}).${kept} ${kind.restore}`);
  }
  if (code.startsWith('SQLITE_READONLY')) {
    return fail(
      `cannot write ${kind.noun} ${file}: it is read-only (${code}). Check the permissions of the file and its folder, and that its disk is mounted read-write.`,
    );
  }
  if (code === 'SQLITE_FULL') return fail(`cannot write ${kind.noun} ${file}: the disk is full (${code}). ${kind.fullDisk}`);
  if (code.startsWith('SQLITE_BUSY')) {
    return fail(
      `${kind.noun} ${file} is locked by another process (waited ${BUSY_TIMEOUT_MS / 1000} s for its write lock): another Backflow command or a tool holds a write transaction on it. Run again once it is released.`,
    );
  }
  if (code.startsWith('SQLITE_CANTOPEN') && !isWritable(path.dirname(file))) {
    return fail(
      `cannot use ${kind.noun} ${file}: its folder is read-only, and SQLite writes its -wal and -shm files next to the file, even to read it (${code}). ` +
        'Mount the disk read-write, or fix the permissions of the folder.',
    );
  }
  if (code.startsWith('SQLITE_CANTOPEN') || code.startsWith('SQLITE_IOERR')) {
    return fail(`cannot use ${kind.noun} ${file}: ${reason}. Check that its folder exists and is writable, and the disk's health.`);
  }
  return error;
}

/**
 * Schema 0 means a new, empty file. One that already holds tables belongs to another program (a
 * setting pointing at the wrong file): migrating would write Backflow's tables into it.
 */
function refuseForeignDatabase(db: Database.Database, file: string, kind: SqliteFileKind): void {
  const tables = (
    db.prepare("select name from sqlite_schema where type = 'table' and name not like 'sqlite\\_%' escape '\\' order by name").all() as { name: string }[]
  ).map((row) => row.name);
  if (tables.length === 0) return;
  throw new kind.error(
    `${kind.noun} ${file} is not a ${kind.valid}: it has no Backflow schema version but holds other tables (${tables.join(', ')}). ` +
      `It was not changed. Point ${kind.setting} at a new file, or at the right ${kind.noun}.`,
  );
}

/**
 * Opens `file` (named `displayName` in messages), migrating a writer's file to the current schema. A
 * reader (`readonly`) never creates or changes the file: an older schema is returned unmigrated with
 * `olderVersion`, for the caller to read through a migrated copy or to refuse.
 */
export function openVersioned(file: string, spec: VersionedFile, options: { readonly: boolean; displayName?: string }): OpenedFile {
  const { kind, migrations } = spec;
  const displayName = options.displayName ?? file;
  let db: Database.Database | undefined;
  try {
    db = new Database(file, { readonly: options.readonly, fileMustExist: options.readonly });
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    const version = db.pragma('user_version', { simple: true }) as number;
    // Before anything writes to the file (even switching it to WAL).
    if (version === 0) refuseForeignDatabase(db, displayName, kind);
    if (!options.readonly) {
      db.pragma('journal_mode = WAL');
      for (const pragma of spec.writerPragmas) db.pragma(pragma);
    }
    if (version > migrations.length) {
      throw new kind.error(
        `${kind.noun} ${displayName} was written by a newer Backflow (schema ${version}, this one knows ${migrations.length}): upgrade Backflow`,
      );
    }
    if (version < migrations.length) {
      if (options.readonly) return { db, olderVersion: version };
      const writer = db;
      writer
        .transaction(() => {
          for (const migration of migrations.slice(version)) writer.exec(migration);
          writer.pragma(`user_version = ${migrations.length}`);
        })
        .immediate();
    }
    // A quick structural check (each table's first page). Damage deeper in a table is found when it
    // is read, and refused the same way.
    for (const table of spec.tables) db.prepare(`select * from ${table} limit 1`).get();
    return { db };
  } catch (error) {
    db?.close();
    throw explainSqliteError(error, displayName, kind, true);
  }
}
