// `backflow plan`: the dry-run diff. Exit 2 when a sync would send anything, 0 when not.
import { planSync, type SyncPlan } from '../../engine/plan.js';
import type { PlannedRecord } from '../../plan/classify.js';
import { configHash, PLAN_FORMAT, PlanFileWriter } from '../../plan/plan-file.js';
import type { SyncConfig } from '../../config/schema.js';
import { describeModel, withWorkspace, type GlobalOptions } from '../context.js';
import { describeReasons, n, print, printJson, show } from '../output.js';

export interface PlanCommandOptions extends GlobalOptions {
  /** Sync names (--sync, repeatable or comma-separated). */
  sync?: string[];
  /** Glob patterns over sync names (--select). */
  select?: string[];
  out?: string;
  show?: number;
  full?: boolean;
}

const SYMBOL: Record<string, string> = { added: '+', changed: '~', removed: '-', invalid: '!', retry: '↻', unchanged: '=' };

function describeRecord(record: PlannedRecord): string[] {
  const head = `  ${SYMBOL[record.class]} ${record.key}  ${record.class}`;
  switch (record.class) {
    case 'added':
      return [head, `      ${show(record.payload, 200)}`];
    case 'changed':
    case 'retry':
      return [
        record.class === 'retry' ? `${head} (rejected before: ${record.reason})` : head,
        ...(record.changes ?? []).map((change) => `      ${change.field}: ${show(change.old)} → ${show(change.new)}`),
        ...(record.changes ? [] : [`      ${show(record.payload, 200)}`]),
      ];
    case 'invalid':
      return [`${head}: ${record.reason}`];
    case 'removed':
      return [`${head} (no longer returned by the query; nothing is sent)`];
    default:
      return [head];
  }
}

/** Sendable and removed records not listed one by one (invalid ones are grouped by reason instead). */
function listedElsewhere(plan: SyncPlan): number {
  const listed = plan.records.filter((record) => record.class !== 'invalid' && !(plan.mappingChanged && record.class === 'changed')).length;
  const hiddenChanged = plan.mappingChanged ? plan.counts.changed : 0;
  return plan.counts.added + plan.counts.changed + plan.counts.retry + plan.counts.removed - hiddenChanged - listed;
}

/** Said once, instead of the same field diff for every record. */
function describeMappingChange(plan: SyncPlan): string[] {
  const fields = plan.changedFields.slice(0, 10).map((field) => `${field.field} (${n(field.count)})`);
  return [
    '  The mapping changed since the last run: every record is compared again.',
    ...(plan.counts.changed > 0 ? [`  ~ ${n(plan.counts.changed)} changed; fields that differ: ${fields.join(', ')}`] : []),
  ];
}

export function describePlan(plan: SyncPlan, sync?: SyncConfig): string[] {
  const c = plan.counts;
  const read = plan.full ? 'full read' : `incremental read from ${plan.cursor?.column} > ${show(plan.cursor?.from)}`;
  return [
    `Sync ${plan.sync} → ${plan.destination} (${read})`,
    ...(sync?.dbtModel ? [`  reads ${describeModel(sync)}`] : []),
    `  + ${n(c.added)} added   ~ ${n(c.changed)} changed   ↻ ${n(c.retry)} retry   = ${n(c.unchanged)} unchanged   - ${n(c.removed)} removed   ! ${n(c.invalid)} invalid`,
    `  ${n(plan.requests)} request${plan.requests === 1 ? '' : 's'} would be sent.`,
    ...(plan.mappingChanged ? describeMappingChange(plan) : []),
    // Invalid records are summarised by reason below, not one by one.
    ...plan.records.filter((record) => record.class !== 'invalid' && !(plan.mappingChanged && record.class === 'changed')).flatMap(describeRecord),
    ...(listedElsewhere(plan) > 0 ? [`  … and ${n(listedElsewhere(plan))} more to send or remove (use --show N to list more)`] : []),
    ...describeReasons('!', 'invalid: ', plan.invalidReasons, '  '),
  ];
}

export async function planCommand(options: PlanCommandOptions): Promise<number> {
  return withWorkspace(options, true, async (workspace) => {
    const syncs = workspace.selectSyncs(options.sync, options.select);
    const writer = options.out
      ? new PlanFileWriter(options.out, {
          format: PLAN_FORMAT,
          createdAt: new Date().toISOString(),
          configHash: configHash(workspace.config),
          generations: Object.fromEntries(syncs.map((sync) => [sync.name, workspace.state.generation(sync.name)])),
        })
      : undefined;
    const plans: SyncPlan[] = [];
    try {
      for (const sync of syncs) {
        plans.push(
          await planSync(workspace, sync, { full: options.full, show: options.show, onSendable: writer && ((record) => writer.add(sync.name, record)) }),
        );
      }
    } finally {
      writer?.close();
    }
    const requests = plans.reduce((total, plan) => total + plan.requests, 0);
    if (options.json) {
      const withModels = plans.map((plan) => {
        const { dbtModel } = workspace.syncNamed(plan.sync);
        return dbtModel ? { ...plan, dbtModel } : plan;
      });
      printJson({
        requests,
        syncs: withModels,
        ...(options.out ? { savedTo: options.out } : {}),
        ...(workspace.state.note ? { note: workspace.state.note } : {}),
      });
    } else {
      if (workspace.state.note) print(`note: ${workspace.state.note}`);
      for (const plan of plans) {
        for (const line of describePlan(plan, workspace.syncNamed(plan.sync))) print(line);
        print();
      }
      print(requests > 0 ? `Plan: ${n(requests)} request${requests === 1 ? '' : 's'} to send. Run backflow sync to send them.` : 'Plan: nothing to send.');
      if (options.out) print(`Saved to ${options.out}; backflow sync --plan ${options.out} sends exactly this plan.`);
    }
    return requests > 0 ? 2 : 0;
  });
}
