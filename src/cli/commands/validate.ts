// `backflow validate [--connect]`: the config's schema, env vars, references and cron syntax; with
// --connect, each sync's query is run without reading rows, to find columns the mapping lacks.
import type { SourceConfig } from '../../config/schema.js';
import { columnsRead, missingColumns } from '../../mapping/index.js';
import type { SourceReader } from '../../sources/contract.js';
import { openSource } from '../../sources/index.js';
import { explainModelError } from '../../dbt/stale.js';
import { describeModel, load, type GlobalOptions } from '../context.js';
import { print, printJson } from '../output.js';

interface ConnectProblem {
  sync: string;
  message: string;
}

export async function validateCommand(options: GlobalOptions & { connect?: boolean }): Promise<number> {
  const loaded = load(options);
  const { config } = loaded;
  const problems: ConnectProblem[] = [];
  if (options.connect) {
    const readers = new Map<string, SourceReader>();
    try {
      for (const sync of config.syncs) {
        try {
          let reader = readers.get(sync.source);
          if (!reader) {
            reader = await openSource(sync.source, config.sources[sync.source] as SourceConfig, { configDir: loaded.dir });
            readers.set(sync.source, reader);
          }
          const columns = await reader.columns({ query: sync.query, cursorColumn: sync.cursor, cursor: null, batchSize: 1 });
          for (const column of missingColumns(columnsRead(sync), columns)) {
            problems.push({
              sync: sync.name,
              message: `the ${sync.dbtModel ? `dbt model ${sync.dbtModel.qualifiedName}` : sync.query ? 'query' : 'source'} returns no column "${column}" (it returns: ${columns.join(', ')})`,
            });
          }
        } catch (error) {
          problems.push({ sync: sync.name, message: `cannot run the query: ${(explainModelError(sync, error) as Error).message}` });
        }
      }
    } finally {
      for (const reader of readers.values()) await reader.close();
    }
  }

  const models = config.syncs.flatMap((sync) => (sync.dbtModel ? [{ sync: sync.name, primaryKey: sync.primaryKey, ...sync.dbtModel }] : []));
  if (options.json) {
    printJson({ valid: problems.length === 0, file: loaded.file, syncs: config.syncs.map((sync) => sync.name), models, problems });
  } else if (problems.length > 0) {
    for (const problem of problems) print(`${loaded.file}: sync "${problem.sync}": ${problem.message}`);
  } else {
    print(`${loaded.file}: valid (${config.syncs.length} sync${config.syncs.length === 1 ? '' : 's'}${options.connect ? ', every source query ran' : ''})`);
    for (const sync of config.syncs) if (sync.dbtModel) print(`  sync "${sync.name}": ${describeModel(sync)}`);
  }
  return problems.length === 0 ? 0 : 1;
}
