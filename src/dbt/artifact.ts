// Reads one of dbt's JSON artifacts (manifest.json, run_results.json): a single clear message when the
// file is missing, is not JSON, is another artifact, or has a schema version Backflow does not read.
import fs from 'node:fs';

/** A dbt artifact that cannot be used, with what to do about it. */
export class DbtArtifactError extends Error {
  override name = 'DbtArtifactError';
}

export interface ArtifactKind {
  /** The artifact's name in its dbt_schema_version URL (https://schemas.getdbt.com/dbt/<name>/v12.json). */
  name: 'manifest' | 'run-results';
  /** How users call it. */
  label: string;
  /** Schema versions Backflow reads, and the dbt releases that write them. */
  supported: readonly number[];
  writtenBy: string;
  /** The dbt command that writes it again. */
  rewrite: string;
}

// dbt 1.6 writes manifest v10, 1.7 v11, 1.8 and later v12 (1.9 and 1.10 kept it).
export const MANIFEST: ArtifactKind = {
  name: 'manifest',
  label: 'dbt manifest',
  supported: [10, 11, 12],
  writtenBy: 'dbt 1.6 to 1.10',
  rewrite: 'dbt parse',
};

// dbt 1.6 writes run results v4, 1.7 v5, 1.8 and later v6.
export const RUN_RESULTS: ArtifactKind = {
  name: 'run-results',
  label: 'dbt run results',
  supported: [4, 5, 6],
  writtenBy: 'dbt 1.6 to 1.10',
  rewrite: 'dbt build',
};

export type Json = Record<string, unknown>;
export const isObject = (value: unknown): value is Json => value !== null && typeof value === 'object' && !Array.isArray(value);

export interface Artifact {
  json: Json;
  /** The schema version, e.g. 12. */
  version: number;
  metadata: Json;
}

const SCHEMA_URL = /\/dbt\/([a-z_-]+)\/v(\d+)(?:\.json)?$/;

export function readArtifact(file: string, kind: ArtifactKind, whereFrom: string): Artifact {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'file not found' : code === 'EISDIR' ? 'it is a folder' : (error as Error).message;
    throw new DbtArtifactError(
      `cannot read the ${kind.label} ${file}: ${reason}. Run ${kind.rewrite} in the dbt project to write it, or fix the path (${whereFrom})`,
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DbtArtifactError(`the ${kind.label} ${file} is not valid JSON (${(error as Error).message}): write it again with ${kind.rewrite}`);
  }
  const metadata = isObject(json) && isObject(json.metadata) ? json.metadata : undefined;
  const schema = metadata?.dbt_schema_version;
  const match = typeof schema === 'string' ? SCHEMA_URL.exec(schema) : null;
  if (!isObject(json) || !metadata || !match) {
    throw new DbtArtifactError(
      `${file} is not a ${kind.label}: it has no metadata.dbt_schema_version such as https://schemas.getdbt.com/dbt/${kind.name}/v12.json`,
    );
  }
  const [, name, versionText] = match;
  if (name !== kind.name)
    throw new DbtArtifactError(`${file} is a dbt ${name} artifact, not the ${kind.label}: point at dbt's ${kind.name.replace('-', '_')}.json`);
  const version = Number(versionText);
  if (!kind.supported.includes(version)) {
    const writer = typeof metadata.dbt_version === 'string' ? `, written by dbt ${metadata.dbt_version}` : '';
    const reads = `Backflow reads ${kind.label} ${kind.supported.map((v) => `v${v}`).join(', ')} (${kind.writtenBy})`;
    const advice = version > Math.max(...kind.supported) ? 'upgrade Backflow, or write it with a dbt it knows' : `upgrade dbt and run ${kind.rewrite} again`;
    throw new DbtArtifactError(`${file} is ${kind.label} v${version}${writer}; ${reads}: ${advice}`);
  }
  return { json, version, metadata };
}
