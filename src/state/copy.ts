// `backflow state copy`: moves a state (SQLite or PostgreSQL) into another, empty store, row for row,
// so a user who started embedded grows into a fleet without re-sending anything. Each engine has a
// reader (a consistent snapshot, streamed in batches) and a writer (one transaction on the target);
// this module decides the order and the refusals. Locks are not copied: they belong to processes.
import fs from 'node:fs';
import { StateError, SyncLockedError, UsageError } from '../errors.js';
import { openSqliteReader, openSqliteWriter } from './copy-sqlite.js';
import { describeStateLocation, openStore, sameLocation, type StateLocation } from './location.js';
import { openPgReader, openPgWriter } from './pg/copy.js';
import { COPIED_TABLES, type CopiedTable, type StateReader, type StateWriter } from './copy-tables.js';

export type CopyCounts = Record<CopiedTable, number>;

function openReader(location: StateLocation): Promise<StateReader> {
  return location.kind === 'sqlite' ? openSqliteReader(location.path) : openPgReader(location);
}

function openWriter(location: StateLocation): Promise<StateWriter> {
  return location.kind === 'sqlite' ? openSqliteWriter(location.path) : openPgWriter(location);
}

function refuseNonEmpty(target: StateLocation, tables: string[]): void {
  if (tables.length === 0) return;
  throw new StateError(
    `the target ${describeStateLocation(target)} already holds Backflow state (rows in ${tables.join(', ')}): state copy only writes into an empty state; name a new file or schema`,
  );
}

/** Copies every state row of `source` into `target`, which must be empty; all or nothing. */
export async function copyState(source: StateLocation, target: StateLocation, options: { expiryMs: number }): Promise<CopyCounts> {
  if (sameLocation(source, target)) throw new UsageError(`the target ${describeStateLocation(target)} is the config's own state: name another file or schema`);
  const reader = await openReader(source);
  try {
    const live = await reader.liveLocks(options.expiryMs);
    if (live.length > 0) {
      throw new SyncLockedError(
        `cannot copy the state while a sync is running (${live.join('; ')}): the copy would miss what it commits. Stop the daemon (or let the run finish), then copy again`,
      );
    }
    return await writeInto(target, reader);
  } finally {
    await reader.close();
  }
}

async function writeInto(target: StateLocation, reader: StateReader): Promise<CopyCounts> {
  const createdFile = target.kind === 'sqlite' && !fs.existsSync(target.path);
  let writer = await openWriter(target);
  let committed = false;
  try {
    // Asked before the migrations run, so a non-empty target is left exactly as it was.
    refuseNonEmpty(target, await writer.tablesWithRows());
    await writer.close();
    // The target's tables are made by the real migrations, as any command would make them.
    openStore(target).close();
    writer = await openWriter(target);
    await writer.begin();
    refuseNonEmpty(target, await writer.tablesWithRows());
    const counts = Object.fromEntries(COPIED_TABLES.map((table) => [table, 0])) as CopyCounts;
    for (const table of COPIED_TABLES) {
      for await (const rows of reader.batches(table)) {
        await writer.insert(table, rows);
        counts[table] += rows.length;
      }
    }
    await writer.commit();
    committed = true;
    return counts;
  } finally {
    await writer.close();
    // A file this copy created and could not fill is removed: no empty state is left behind.
    if (createdFile && !committed) for (const suffix of ['', '-wal', '-shm']) fs.rmSync(`${target.path}${suffix}`, { force: true });
  }
}
