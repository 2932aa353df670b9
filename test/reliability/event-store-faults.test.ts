// The event store file refused as the state file is: another program's database, or a damaged one,
// is named with what to do, and left unchanged, by the ingest writer and the segment source reader.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli, sqliteExec, tempDir } from '../helpers/index.js';
import { NO_SYNCS, segmentConfig, WRITE_KEY } from '../helpers/segment.js';

const env = { SEGMENT_WRITE_KEY: WRITE_KEY };

describe('an event store that is not one', () => {
  it("is refused, unchanged, when it is another program's database: by ingest and by a sync reading it", async () => {
    const dir = tempDir();
    const config = segmentConfig(dir, NO_SYNCS);
    const store = path.join(dir, 'events.db');
    sqliteExec(store, 'create table invoices (id integer primary key, total real); insert into invoices values (1, 9.5)');
    const before = fs.readFileSync(store);
    const message =
      `event store ${store} is not a Backflow event store: it has no Backflow schema version but holds other tables (invoices). ` +
      "It was not changed. Point the segment source's store: at a new file, or at the right event store.";

    const ingest = await runCli(['--config', config, 'ingest'], { env });
    expect(ingest.code).toBe(1);
    expect(ingest.stderr).toContain(message);
    const plan = await runCli(['--config', config, 'plan'], { env });
    expect(plan.code).not.toBe(0);
    expect(plan.stderr).toContain(message);
    expect(fs.readFileSync(store).equals(before)).toBe(true);
  });

  it('is refused, unchanged, when it is damaged, with what to do', async () => {
    const dir = tempDir();
    const config = segmentConfig(dir, NO_SYNCS);
    const store = path.join(dir, 'events.db');
    const garbage = Buffer.alloc(8192, 'not a database, just bytes. ');
    fs.writeFileSync(store, garbage);

    const ingest = await runCli(['--config', config, 'ingest'], { env });
    expect(ingest.code).toBe(1);
    expect(ingest.stderr).toContain(
      `event store ${store} is not a valid Backflow event store (file is not a database). It was not changed. ` +
        'Restore it from a backup, or move it aside to start a new one (events not yet synced are lost with it).',
    );
    expect(fs.readFileSync(store).equals(garbage)).toBe(true);
  });
});
