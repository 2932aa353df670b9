// The editor's JSON Schema of backflow.yaml, generated from the zod schema (never written twice).
// `npm run schema` writes schema/backflow.schema.json; a test fails when the file drifts.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configSchema } from './schema.js';

export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }),
    $id: 'https://backflow.dev/schema/backflow.schema.json',
    title: 'Backflow config (backflow.yaml)',
  };
}

export const SCHEMA_FILE = 'schema/backflow.schema.json';

export function schemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}

// Run directly: write the file at the repository root.
if (process.argv[1] && fileURLToPath(import.meta.url).replace(/\.ts$/, '.js') === path.resolve(process.argv[1]).replace(/\.ts$/, '.js')) {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), process.argv[1].includes(`${path.sep}dist${path.sep}`) ? '../../..' : '../..');
  fs.writeFileSync(path.join(repo, SCHEMA_FILE), schemaText());
  console.log(`wrote ${SCHEMA_FILE}`);
}
