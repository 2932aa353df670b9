// `sync --dbt-run-results FILE`: of the syncs asked for, those whose dbt model that run built
// successfully; the others with the reason they are skipped.
import type { SyncConfig } from '../../config/schema.js';
import { DbtArtifactError } from '../../dbt/artifact.js';
import { DbtRunResults, type SkipReason } from '../../dbt/run-results.js';
import type { Workspace } from '../../engine/workspace.js';
import { UsageError } from '../../errors.js';

export interface SkippedSync {
  sync: string;
  reason: SkipReason;
  message: string;
  /** dbt failed for the sync's model (failed, skipped, or its tests failed): the run exits 1. */
  failed: boolean;
}

export interface DbtSelection {
  results: DbtRunResults;
  run: SyncConfig[];
  skipped: SkippedSync[];
  warnings: { sync: string; message: string }[];
}

/** Read before the state is opened, so a wrong file leaves no state file behind. */
export function loadRunResults(file: string): DbtRunResults {
  try {
    return DbtRunResults.load(file);
  } catch (error) {
    if (error instanceof DbtArtifactError) throw new UsageError(error.message);
    throw error;
  }
}

export function followDbtRun(workspace: Workspace, syncs: SyncConfig[], results: DbtRunResults): DbtSelection {
  const manifest = workspace.loaded.dbtManifest;
  if (!manifest) {
    throw new UsageError(`--dbt-run-results needs the dbt manifest: add dbt: { manifest: ./target/manifest.json } to ${workspace.loaded.file}`);
  }
  const selection: DbtSelection = { results, run: [], skipped: [], warnings: [] };
  for (const sync of syncs) {
    const verdict = results.verdictFor(sync.dbtModel, manifest);
    if (verdict.run) {
      selection.run.push(sync);
      selection.warnings.push(...verdict.warnings.map((message) => ({ sync: sync.name, message })));
    } else {
      selection.skipped.push({ sync: sync.name, reason: verdict.reason, message: verdict.message, failed: verdict.failed });
    }
  }
  return selection;
}
