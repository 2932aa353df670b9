// Checks that need the whole config: references between sections, cron syntax, mapping targets.
// They run on the raw document even when the schema found problems, so every error shows at once.
import cron from 'node-cron';
import { cronRangeProblem } from './cron-fields.js';
import { connectors } from '../../connectors/index.js';
import type { SourceType } from '../sources/contract.js';
import { sourceTypes } from '../sources/index.js';
import { notAReadReason } from '../sources/sql.js';
import { unknownName } from './closest.js';
import { fieldExists } from './payload-fields.js';

export interface ReferenceIssue {
  path: (string | number)[];
  message: string;
}

type Raw = Record<string, unknown>;
const isRecord = (value: unknown): value is Raw => value !== null && typeof value === 'object' && !Array.isArray(value);

function isValidTimezone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const listOf = (names: string[]) => names.join(', ') || '(none defined)';

export function referenceIssues(raw: unknown): ReferenceIssue[] {
  const issues: ReferenceIssue[] = [];
  const config = isRecord(raw) ? raw : {};
  const sources = isRecord(config.sources) ? config.sources : {};
  const destinations = isRecord(config.destinations) ? config.destinations : {};
  const syncs = Array.isArray(config.syncs) ? config.syncs : [];
  const names = new Set<unknown>();

  syncs.forEach((entry: unknown, index) => {
    if (!isRecord(entry)) return;
    const add = (message: string, ...path: (string | number)[]) => issues.push({ path: ['syncs', index, ...path], message });

    if (names.has(entry.name)) add(`another sync is already named "${String(entry.name)}"`, 'name');
    names.add(entry.name);

    if (typeof entry.source === 'string') {
      const source = sources[entry.source];
      if (isRecord(config.sources) && !(entry.source in sources)) {
        add(`no source named "${entry.source}": expected one of ${listOf(Object.keys(sources))}`, 'source');
      } else if (isRecord(source)) {
        const sourceType = (sourceTypes as Record<string, SourceType | undefined>)[String(source.type)];
        const model = entry.model !== undefined;
        if (sourceType?.needsQuery && !entry.query && !model) {
          add(`a ${String(source.type)} source needs a query: add query: select … (or model: a dbt model) to this sync`, 'source');
        }
        if (sourceType && !sourceType.needsQuery && entry.query !== undefined) add(`a ${String(source.type)} source takes no query: remove it`, 'query');
        if (sourceType && !sourceType.needsQuery && model) add(`a ${String(source.type)} source reads no dbt model: remove model`, 'model');
        if (sourceType?.needsQuery && model && entry.query !== undefined) add('a sync reads a query or a dbt model, not both: remove one', 'model');
        if (model && !isRecord(config.dbt))
          add('model needs the dbt manifest: add dbt: { manifest: ./target/manifest.json } at the top of the config', 'model');
        const notARead = sourceType?.needsQuery && typeof entry.query === 'string' && entry.allowNonSelect !== true ? notAReadReason(entry.query) : undefined;
        if (notARead) {
          add(
            `${notARead}. A sync only reads its source: write a SELECT, or set allowNonSelect: true on this sync to run it anyway (still read-only)`,
            'query',
          );
        }
        if (entry.pushdown === true && sourceType && !sourceType.pushdown) {
          add(
            `pushdown: true needs a source that hashes rows itself (duckdb, postgres, mysql); a ${String(source.type)} source cannot: remove pushdown`,
            'pushdown',
          );
        }
        if (entry.pushdown === true && entry.cursor !== undefined) {
          add('pushdown: true reads every row, and a cursor reads only newer rows: remove one of them', 'pushdown');
        }
        // A dbt model may declare its key: resolving the model (src/dbt/config.ts) says when it does not.
        if (sourceType && !sourceType.defaults && entry.primaryKey === undefined && !(model && sourceType.needsQuery)) {
          add('required: primaryKey, the column that identifies a record (e.g. primaryKey: id)', 'primaryKey');
        }
      }
    }

    if (typeof entry.destination === 'string') {
      const destination = destinations[entry.destination];
      // A destination that exists but is not a mapping was already reported by the schema.
      if (isRecord(config.destinations) && !(entry.destination in destinations)) {
        add(`no destination named "${entry.destination}": expected one of ${listOf(Object.keys(destinations))}`, 'destination');
      } else if (isRecord(destination)) {
        const connector = (connectors as Record<string, { payload: Parameters<typeof fieldExists>[0] }>)[String(destination.type)];
        for (const target of connector && isRecord(entry.mapping) ? Object.keys(entry.mapping) : []) {
          const problem = fieldExists(connector.payload, target);
          if (problem) add(`${String(destination.type)} has no field "${target}": ${problem}`, 'mapping', target);
        }
      }
    }

    if (typeof entry.schedule === 'string' && !cron.validate(entry.schedule)) {
      add(
        `"${entry.schedule}" is not a valid cron expression: expected 5 fields (minute hour day month weekday) or 6 with seconds first, e.g. "*/15 * * * *"`,
        'schedule',
      );
    } else if (typeof entry.schedule === 'string') {
      const problem = cronRangeProblem(entry.schedule);
      if (problem) add(`"${entry.schedule}" is not a valid cron expression: ${problem}, e.g. "*/15 * * * *"`, 'schedule');
    }
    if (typeof entry.timezone === 'string' && !isValidTimezone(entry.timezone)) {
      add(`"${entry.timezone}" is not an IANA time zone, e.g. UTC or Europe/Berlin`, 'timezone');
    }
  });
  issues.push(...alertIssues(config, syncs));
  return issues;
}

/** Alerts: unique names, and every sync an alert names exists. */
function alertIssues(config: Raw, syncs: unknown[]): ReferenceIssue[] {
  const issues: ReferenceIssue[] = [];
  const alerts = Array.isArray(config.alerts) ? config.alerts : [];
  const syncNames = syncs.flatMap((entry) => (isRecord(entry) && typeof entry.name === 'string' ? [entry.name] : []));
  const names = new Set<unknown>();
  alerts.forEach((entry: unknown, index) => {
    if (!isRecord(entry)) return;
    if (names.has(entry.name)) issues.push({ path: ['alerts', index, 'name'], message: `another alert is already named "${String(entry.name)}"` });
    names.add(entry.name);
    if (!Array.isArray(entry.syncs)) return;
    entry.syncs.forEach((sync: unknown, position) => {
      if (typeof sync === 'string' && !syncNames.includes(sync)) {
        issues.push({ path: ['alerts', index, 'syncs', position], message: unknownName('sync', sync, syncNames) });
      }
    });
  });
  return issues;
}
