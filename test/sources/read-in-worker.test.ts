// The source reader's worker thread: batches arrive hashed and in order, errors arrive labelled,
// and a read abandoned early ends in the worker too (its lock released, the thread gone).
import Database from 'better-sqlite3';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readInWorker, type HashedBatch } from '../../src/sources/read-in-worker.js';
import { rowHasher } from '../../src/fingerprint.js';
import { compileMapping } from '../../src/mapping/index.js';
import { sqliteTable, tempDir, users } from '../helpers/index.js';

const hashing = { connectorType: 'gamifyhost', mapping: { externalId: 'id', displayName: 'name' } };

function warehouse(count: number): string {
  const dir = tempDir();
  sqliteTable(path.join(dir, 'warehouse.db'), 'users', users(count));
  return dir;
}

const read = (dir: string, query: string, batchSize = 10) =>
  readInWorker({
    source: { name: 'warehouse', config: { type: 'sqlite', path: './warehouse.db' } as never, configDir: dir },
    request: { query, cursor: null, batchSize },
    hashing,
  });

describe('reading a source in a worker thread', () => {
  it('yields every row in order, in batches, each row with the hash the engine would compute', async () => {
    const batches: HashedBatch[] = [];
    for await (const batch of read(warehouse(25), 'select * from users order by id')) batches.push(batch);
    expect(batches.map((batch) => batch.rows.length)).toEqual([10, 10, 5]);
    const rows = batches.flatMap((batch) => batch.rows);
    expect(rows.map((row) => row.id)).toEqual(users(25).map((row) => row.id));
    const rowHash = rowHasher(hashing.connectorType, hashing.mapping);
    expect(batches.flatMap((batch) => batch.rowHashes)).toEqual(rows.map(rowHash));
  });

  it('passes bytes through as bytes, mapped to base64 as before', async () => {
    const dir = tempDir();
    const db = new Database(path.join(dir, 'warehouse.db'));
    db.exec("create table files (id integer primary key, data blob); insert into files values (1, x'6869')");
    db.close();
    const batches: HashedBatch[] = [];
    for await (const batch of read(dir, 'select * from files')) batches.push(batch);
    expect(compileMapping({ data: 'data' })(batches[0].rows[0])).toEqual({ data: 'aGk=' });
  });

  it('throws the source error, naming the source', async () => {
    const batches = read(warehouse(3), 'select nope from users');
    await expect(batches.next()).rejects.toThrow(/^source "warehouse" \(sqlite\): .*no such column: nope/);
  });

  it('ends the read in the worker when the engine stops early: the warehouse is free again', async () => {
    const dir = warehouse(100);
    for await (const batch of read(dir, 'select * from users', 5)) {
      expect(batch.rows).toHaveLength(5);
      break;
    }
    // Rollback journal: a reader still holding its read transaction would block this write.
    const db = new Database(path.join(dir, 'warehouse.db'), { timeout: 0 });
    expect(() => db.exec('begin exclusive; delete from users; commit')).not.toThrow();
    db.close();
  });
});
