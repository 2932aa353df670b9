// Pushdown reads (`pushdown: true` on a sync from a source that supports it: duckdb, postgres,
// mysql). Instead of every full row, the database returns each row's key and its hash of the columns
// the mapping reads; only the rows whose hash differs from the one stored with their confirmed
// payload (changed, new, or never hashed so) are then fetched, from the same database state, and
// classified as a plain read classifies them (row hash, then payload). A steady plan over 1,000,000
// rows reads two short values a row.
//
// The stored hash (records.source_hash) is another value than the row hash: the database computes
// it, over the mapped columns only. It is salted with everything that gives it its meaning (this
// scheme, the connector, the mapping, the hashed columns' types, the engine's version), so a change
// of any of them makes every row fetched and compared again, as a plain read would compare them.
import { hash } from 'node:crypto';
import type { SyncConfig } from '../config/schema.js';
import { explainModelReads } from '../dbt/stale.js';
import { mappingColumns } from '../mapping/index.js';
import type { Classified, Classifier } from '../plan/classify.js';
import { canonicalJson, rowHasher } from '../fingerprint.js';
import type { PushdownSession } from '../sources/contract.js';
import { openSource } from '../sources/index.js';
import type { Workspace } from './workspace.js';

const PUSHDOWN_SCHEME = 'backflow-pushdown/1';

/**
 * Keys fetched per query of pass 2. Each fetch scans the query's rows once, so a larger batch means
 * fewer scans when much has changed (or on the first pushdown run, when no row has its hash yet).
 */
export const FETCH_KEYS = 50_000;

/** Records classified so far, the state writes found, and how many source rows pass 1 read for them. */
export interface ClassifiedBatch extends Classified {
  read: number;
}

/** The salt that gives a stored source hash its meaning (see above). */
function pushdownSalt(connectorType: string, sync: SyncConfig, session: PushdownSession): string {
  const meaning = `${PUSHDOWN_SCHEME}\n${connectorType}\n${canonicalJson(sync.mapping)}\n${sync.primaryKey}\n${session.signature}`;
  return hash('sha256', meaning, 'base64url').slice(0, 16);
}

/** A full read of the sync in two passes, classified by `classifier` (the caller lists removed records). */
export function readPushdown(workspace: Workspace, sync: SyncConfig, classifier: Classifier): AsyncIterable<ClassifiedBatch> {
  return explainModelReads(sync, twoPasses(workspace, sync, classifier));
}

async function* twoPasses(workspace: Workspace, sync: SyncConfig, classifier: Classifier): AsyncGenerator<ClassifiedBatch> {
  const source = await openSource(sync.source, workspace.sourceConfig(sync), { configDir: workspace.loaded.dir });
  try {
    if (!source.pushdown) throw new Error(`sync "${sync.name}": its source "${sync.source}" cannot read with pushdown; remove pushdown: true`);
    const session = await source.pushdown(
      { query: sync.query, cursor: null, batchSize: sync.batchSize },
      { primaryKey: sync.primaryKey, columns: mappingColumns(sync.mapping) },
    );
    try {
      classifier.checkColumnNames(session.columns);
      const connectorType = workspace.connectorOf(sync).type;
      const salt = pushdownSalt(connectorType, sync, session);
      const rowHash = rowHasher(connectorType, sync.mapping);
      /** Key text (as the database writes the key) of each row to fetch. */
      let pending: string[] = [];
      const fetch = async function* (): AsyncGenerator<ClassifiedBatch> {
        const { rows, hashes } = await session.rowsFor(pending);
        pending = [];
        for (let start = 0; start < rows.length; start += sync.batchSize) {
          const batch = rows.slice(start, start + sync.batchSize);
          const sourceHashes = hashes.slice(start, start + sync.batchSize).map((value) => salt + value);
          yield { read: 0, ...classifier.classifyFetched({ rows: batch, rowHashes: batch.map(rowHash) }, sourceHashes) };
        }
      };
      for await (const { keys, keyTexts, hashes } of session.keyHashes(sync.batchSize)) {
        const { settled, fetch: toFetch } = classifier.settleByHash(
          keys,
          hashes.map((value) => salt + value),
        );
        for (const index of toFetch) pending.push(keyTexts[index]);
        yield { read: keys.length, records: settled, writes: { rowHashes: [], sourceHashes: [] } };
        if (pending.length >= FETCH_KEYS) yield* fetch();
      }
      if (pending.length > 0) yield* fetch();
    } finally {
      await session.close();
    }
  } finally {
    await source.close();
  }
}
