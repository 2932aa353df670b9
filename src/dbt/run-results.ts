// dbt's run_results.json, read to decide which syncs follow a dbt job: a model-backed sync runs when
// dbt built its model successfully in that run and no test on the model failed.
import { isObject, readArtifact, RUN_RESULTS } from './artifact.js';
import type { SyncModel } from './config.js';
import type { DbtManifest } from './manifest.js';

interface NodeResult {
  status: string;
  message?: string;
}

/** Why a sync does not run after this dbt run. */
export type SkipReason = 'not-a-model' | 'not-in-run' | 'model-failed' | 'model-skipped' | 'tests-failed';

export type Verdict =
  | { run: true; warnings: string[] }
  /** `failed`: dbt failed for this model, so the destination stays behind: the exit code says so. */
  | { run: false; reason: SkipReason; message: string; failed: boolean };

/** The first line of dbt's message, short enough for one summary line. */
const firstLine = (message?: string) => {
  const line =
    (message ?? '')
      .split('\n')
      .find((text) => text.trim())
      ?.trim() ?? '';
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
};
const withMessage = (text: string, message?: string) => (firstLine(message) ? `${text}: ${firstLine(message)}` : text);

export class DbtRunResults {
  private readonly results = new Map<string, NodeResult>();
  readonly invocationId?: string;
  readonly generatedAt?: string;

  private constructor(
    readonly file: string,
    readonly version: number,
    results: unknown[],
    metadata: Record<string, unknown>,
  ) {
    this.invocationId = typeof metadata.invocation_id === 'string' ? metadata.invocation_id : undefined;
    this.generatedAt = typeof metadata.generated_at === 'string' ? metadata.generated_at : undefined;
    for (const result of results.filter(isObject)) {
      if (typeof result.unique_id !== 'string') continue;
      this.results.set(result.unique_id, { status: String(result.status), message: typeof result.message === 'string' ? result.message : undefined });
    }
  }

  /** Reads run_results.json; throws DbtArtifactError with what to do. */
  static load(file: string): DbtRunResults {
    const { json, version, metadata } = readArtifact(file, RUN_RESULTS, 'the path is relative to the working directory');
    return new DbtRunResults(file, version, Array.isArray(json.results) ? json.results : [], metadata);
  }

  get size(): number {
    return this.results.size;
  }

  /** Whether a sync runs after this dbt run, or why not. */
  verdictFor(model: SyncModel | undefined, manifest: DbtManifest): Verdict {
    if (!model) return { run: false, reason: 'not-a-model', message: 'reads a query, not a dbt model', failed: false };
    const name = `${model.resourceType} ${model.qualifiedName}`;
    const result = this.results.get(model.uniqueId);
    if (!result) return { run: false, reason: 'not-in-run', message: `dbt did not build ${name} in this run`, failed: false };
    switch (result.status) {
      case 'success':
        break;
      case 'skipped':
        return { run: false, reason: 'model-skipped', message: `dbt skipped ${name} (a node it depends on, or a unit test of it, failed)`, failed: true };
      case 'partial success':
        return {
          run: false,
          reason: 'model-failed',
          message: withMessage(`dbt built ${name} only in part (some microbatch batches failed)`, result.message),
          failed: true,
        };
      case 'error':
        return { run: false, reason: 'model-failed', message: withMessage(`dbt failed to build ${name}`, result.message), failed: true };
      default:
        return {
          run: false,
          reason: 'model-failed',
          message: withMessage(`dbt reported "${result.status}" for ${name}, not success`, result.message),
          failed: true,
        };
    }
    const failing: string[] = [];
    const warnings: string[] = [];
    for (const test of manifest.testsOn(model.uniqueId)) {
      const outcome = this.results.get(test.uniqueId);
      if (outcome?.status === 'fail' || outcome?.status === 'error') failing.push(withMessage(`${test.name} (${outcome.status})`, outcome.message));
      if (outcome?.status === 'warn') warnings.push(withMessage(`dbt test ${test.name} warned`, outcome.message));
    }
    if (failing.length > 0)
      return { run: false, reason: 'tests-failed', message: `dbt built ${name}, but its tests failed: ${failing.join('; ')}`, failed: true };
    return { run: true, warnings };
  }
}
