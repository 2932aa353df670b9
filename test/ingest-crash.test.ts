// Durability: `backflow ingest` is SIGKILLed the moment it has acknowledged enough batches, with more
// in flight; every acknowledged event is in the store afterwards, folded into its profile, and a
// restarted ingest deduplicates the client's retries.
import Database from 'better-sqlite3';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { outputLine, spawnCli, tempDir } from './helpers/index.js';
import { ingestFor, NO_SYNCS, post, readProfiles, segmentConfig, storePath, WRITE_KEY } from './helpers/segment.js';

const BATCHES = 40;
const KILL_AFTER = 20;
const SENDERS = 4;

/** Batch `index`: an identify of its own user and 19 track events spread over five users. */
function batch(index: number) {
  return [
    { type: 'identify', userId: `user-${index}`, traits: { batch: index }, messageId: `b${index}-identify` },
    ...Array.from({ length: 19 }, (_, n) => ({ type: 'track', userId: `user-${n % 5}`, event: 'Clicked', messageId: `b${index}-track-${n}` })),
  ];
}

describe('a crash right after the answer', () => {
  it('loses no acknowledged event, and a restart deduplicates what clients resend', async () => {
    const dir = tempDir();
    const file = segmentConfig(dir, NO_SYNCS);
    const child = spawnCli(['--config', file, 'ingest'], { env: { SEGMENT_WRITE_KEY: WRITE_KEY } });
    const exited = once(child, 'exit');
    const [, url] = await outputLine(child, /listening on (http:\/\/\S+)/, 'backflow ingest to listen');

    const acknowledged: number[] = [];
    let next = 0;
    const sender = async () => {
      while (next < BATCHES && acknowledged.length < KILL_AFTER) {
        const index = next++;
        try {
          const answer = await post(url, '/v1/batch', { batch: batch(index) });
          if (answer.status !== 200) throw new Error(`batch ${index}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
          acknowledged.push(index);
          // Killed in the same tick the answer arrived, with the other senders' requests in flight.
          if (acknowledged.length === KILL_AFTER) child.kill('SIGKILL');
        } catch (error) {
          if (acknowledged.length < KILL_AFTER) throw error; // before the kill every request must succeed
        }
      }
    };
    await Promise.all(Array.from({ length: SENDERS }, sender));
    const [, signal] = await exited;
    expect(signal).toBe('SIGKILL');
    // Answers already on their way when the signal landed count as acknowledged too.
    expect(acknowledged.length).toBeGreaterThanOrEqual(KILL_AFTER);
    expect(acknowledged.length).toBeLessThan(BATCHES);

    const db = new Database(storePath(dir), { readonly: true });
    const stored = new Set((db.prepare('select message_id from events').all() as { message_id: string }[]).map((row) => row.message_id));
    const trackEvents = (db.prepare("select count(*) as n from events where type = 'track'").get() as { n: number }).n;
    db.close();
    for (const index of acknowledged) for (const message of batch(index)) expect(stored.has(message.messageId)).toBe(true);

    // The restarted endpoint serves the same store: profiles agree with the event log, and a client
    // resending every batch (answered or not) stores each message exactly once.
    const { url: restarted, loaded } = await ingestFor(file);
    let profiles = await readProfiles(loaded);
    for (const index of acknowledged) expect(profiles.get(`user-${index}`)?.traits).toEqual({ batch: index });
    const counted = (rows: typeof profiles) => [...rows.values()].reduce((sum, row) => sum + (row.eventCount as number), 0);
    expect(counted(profiles)).toBe(trackEvents);

    for (let index = 0; index < BATCHES; index++) expect((await post(restarted, '/v1/batch', { batch: batch(index) })).status).toBe(200);
    profiles = await readProfiles(loaded);
    expect(counted(profiles)).toBe(BATCHES * 19);
    expect(profiles.get('user-0')!.eventCount).toBe(BATCHES * 4);
    expect(profiles.size).toBe(BATCHES);
  });
});
