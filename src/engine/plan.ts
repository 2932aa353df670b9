// `plan`: classify every record of a sync without calling the destination or writing state.
import type { SyncConfig } from '../config/schema.js';
import { explainModelReads } from '../dbt/stale.js';
import { BatchGrouper, batchingOf, batchItem } from '../delivery/batches.js';
import { readInWorker, type HashedBatch } from '../sources/read-in-worker.js';
import { Classifier, isSendable, RECORD_CLASSES, type PlannedRecord, type RecordClass, type SendableRecord } from '../plan/classify.js';
import type { RunReads } from '../state/contract.js';
import { readPushdown, type ClassifiedBatch } from './pushdown.js';
import { fingerprint } from '../fingerprint.js';
import { ReasonGroups, type ReasonGroup } from '../plan/reasons.js';
import type { Workspace } from './workspace.js';

export interface SyncPlan {
  sync: string;
  destination: string;
  /** Whether every row was read (then `removed` is known). */
  full: boolean;
  cursor: { column: string; from: unknown } | null;
  counts: Record<RecordClass, number>;
  /**
   * Requests a sync would make now: one per added, changed or retry record, or for a batching
   * destination one per batch, grouped as sync groups them.
   */
  requests: number;
  /** The first `show` records that are not unchanged, with their field diffs: sendable and removed ones first, then invalid ones. */
  records: PlannedRecord[];
  /** How many such records were not listed because of `show`. */
  notShown: number;
  /** Invalid records grouped by reason, most frequent first, with a few example keys each. */
  invalidReasons: ReasonGroup[];
  /** The mapping differs from the one the last complete run used: every record read is compared again. */
  mappingChanged: boolean;
  /** For each field that changed: in how many changed records (most first). */
  changedFields: { field: string; count: number }[];
  /** State generation the plan was made against (a saved plan is refused if it moved). */
  generation: number;
}

export interface PlanOptions {
  full?: boolean;
  /** How many records to list with their diffs (the counts always cover all). */
  show?: number;
  /** Receives every sendable record (to save a plan file), in order. */
  onSendable?: (record: SendableRecord) => void;
}

export function emptyCounts(): Record<RecordClass, number> {
  return Object.fromEntries(RECORD_CLASSES.map((name) => [name, 0])) as Record<RecordClass, number>;
}

/** Whether a read covers every row (so records it does not return were removed). */
export function readsEverything(sync: SyncConfig, cursor: unknown): boolean {
  return !sync.cursor || cursor === null || cursor === undefined;
}

/** Names the mapping a sync's payloads are made with (the connector's rules included): stored after a complete run. */
export function mappingHash(workspace: Workspace, sync: SyncConfig): string {
  return fingerprint({ connector: workspace.connectorOf(sync).type, mapping: sync.mapping });
}

/** Whether the mapping changed since the sync's last complete run (unknown before one: false). */
export function mappingChanged(workspace: Workspace, sync: SyncConfig): boolean {
  const stored = workspace.state.mappingHash(sync.name);
  return stored !== null && stored !== mappingHash(workspace, sync) && workspace.state.recordCount(sync.name) > 0;
}

/**
 * The classifier of a sync's rows (shared by plan and sync): it reads what the workspace's state
 * knows, and notes the keys it reads in `reads` (the run's, or the plan's own).
 */
export function classifierFor(workspace: Workspace, sync: SyncConfig, startedAt: string, reads: RunReads): Classifier {
  return new Classifier({
    sync: sync.name,
    primaryKey: sync.primaryKey,
    cursorColumn: sync.cursor,
    mapping: sync.mapping,
    connector: workspace.connectorOf(sync),
    known: workspace.state,
    reads,
    startedAt,
  });
}

/**
 * The sync's records from its source past `cursor` (null: every row), classified batch by batch: by
 * a pushdown read when the sync asks for one and reads every row, else by a plain read.
 */
export function classifiedReads(workspace: Workspace, sync: SyncConfig, classifier: Classifier, cursor: unknown): AsyncIterable<ClassifiedBatch> {
  if (sync.pushdown && readsEverything(sync, cursor)) return readPushdown(workspace, sync, classifier);
  return classifyRows(readRows(workspace, sync, cursor), classifier);
}

async function* classifyRows(batches: AsyncIterable<HashedBatch>, classifier: Classifier): AsyncGenerator<ClassifiedBatch> {
  for await (const batch of batches) yield { read: batch.rows.length, ...classifier.classify(batch) };
}

/** The sync's rows from its source, past `cursor` (null: every row), in hashed batches. */
export function readRows(workspace: Workspace, sync: SyncConfig, cursor: unknown): AsyncIterable<HashedBatch> {
  return explainModelReads(
    sync,
    readInWorker({
      source: { name: sync.source, config: workspace.sourceConfig(sync), configDir: workspace.loaded.dir },
      request: { query: sync.query, cursorColumn: sync.cursor, cursor, batchSize: sync.batchSize },
      hashing: { connectorType: workspace.connectorOf(sync).type, mapping: sync.mapping },
    }),
  );
}

export async function planSync(workspace: Workspace, sync: SyncConfig, options: PlanOptions = {}): Promise<SyncPlan> {
  const show = options.show ?? 20;
  const { state } = workspace;
  const cursor = options.full ? null : state.getCursor(sync.name);
  const full = readsEverything(sync, cursor);
  const plan: SyncPlan = {
    sync: sync.name,
    destination: sync.destination,
    full,
    cursor: sync.cursor ? { column: sync.cursor, from: cursor } : null,
    counts: emptyCounts(),
    requests: 0,
    records: [],
    notShown: 0,
    invalidReasons: [],
    mappingChanged: mappingChanged(workspace, sync),
    changedFields: [],
    generation: state.generation(sync.name),
  };
  const batching = batchingOf(workspace.connectorOf(sync), workspace.destinationConfig(sync));
  const grouper = batching ? new BatchGrouper<true>(batching) : undefined;
  const countRequest = (record: SendableRecord) => {
    if (!batching || !grouper) return void plan.requests++;
    const context = { sync: sync.name, key: record.key, fingerprint: record.fingerprint, changedAt: record.changedAt };
    plan.requests += grouper.add(true, batchItem(batching, record.payload, context).bytes).length;
  };
  // Sendable records are listed before invalid ones: what will be sent matters first.
  const listed: PlannedRecord[] = [];
  const invalidListed: PlannedRecord[] = [];
  const reasons = new ReasonGroups();
  const changedFields = new Map<string, number>();
  const note = (record: PlannedRecord) => {
    plan.counts[record.class]++;
    if (isSendable(record)) {
      countRequest(record);
      options.onSendable?.(record);
      for (const change of record.changes ?? []) changedFields.set(change.field, (changedFields.get(change.field) ?? 0) + 1);
    }
    if (record.class === 'unchanged') return;
    if (record.class === 'invalid') {
      reasons.add(record.reasonGroup, record.key, record.reason);
      if (invalidListed.length < show) invalidListed.push(record);
    } else if (listed.length < show) listed.push(record);
  };

  // Plan reads and notes the keys it reads, and drops what classification would write.
  const classifier = classifierFor(workspace, sync, new Date().toISOString(), state.readsForRun());
  for await (const batch of classifiedReads(workspace, sync, classifier, cursor)) {
    for (const record of batch.records) note(record);
  }
  if (full) for (const page of classifier.removed()) for (const record of page) note(record);
  if (grouper && grouper.end().length > 0) plan.requests++;
  plan.records = [...listed, ...invalidListed].slice(0, show);
  plan.notShown = RECORD_CLASSES.reduce((total, name) => total + (name === 'unchanged' ? 0 : plan.counts[name]), 0) - plan.records.length;
  plan.invalidReasons = reasons.list();
  plan.changedFields = [...changedFields].map(([field, count]) => ({ field, count })).sort((a, b) => b.count - a.count);
  return plan;
}
