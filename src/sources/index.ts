// The registry of source types, keyed by the `type` used in the config.
import type { SourceType } from './contract.js';
import { postgresSource } from './postgres.js';
import { segmentSource } from './segment.js';
import { sqliteSource } from './sqlite.js';

export const sourceTypes = {
  sqlite: sqliteSource,
  postgres: postgresSource,
  segment: segmentSource,
} as const satisfies Record<string, SourceType<any>>;

export function sourceTypeFor(type: string): SourceType {
  const source = (sourceTypes as Record<string, SourceType<any>>)[type];
  if (!source) throw new Error(`unknown source type "${type}"`);
  return source;
}
