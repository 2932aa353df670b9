// `backflow init --source TYPE --destination TYPES`: writes a starter config that `backflow
// validate` accepts once its variables are set: the source, each destination with its secrets read
// from variables, and one sync per destination with the connector's suggested mapping. Never
// overwrites a file.
import fs from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { connectorFor, connectors } from '../../../connectors/index.js';
import { UsageError } from '../../errors.js';
import type { GlobalOptions } from '../context.js';
import { print, printJson } from '../output.js';

export interface InitCommandOptions extends GlobalOptions {
  source: string;
  destination: string[];
}

/** The settings of each source type a starter config can hold, and the variables they read. */
const SOURCES: Record<string, { settings: Record<string, string>; variables: string[]; query: string }> = {
  postgres: { settings: { url: '${WAREHOUSE_URL}' }, variables: ['WAREHOUSE_URL'], query: 'select * from users' },
  mysql: { settings: { url: '${WAREHOUSE_URL}' }, variables: ['WAREHOUSE_URL'], query: 'select * from users' },
  sqlite: { settings: { path: './warehouse.db' }, variables: [], query: 'select * from users' },
  duckdb: { settings: { path: './warehouse.duckdb' }, variables: [], query: 'select * from users' },
};

/** Each destination's required settings: secrets and account ids from variables named after it. */
const DESTINATIONS: Record<string, (prefix: string) => Record<string, string>> = {
  gamifyhost: (p) => ({ apiKey: `\${${p}_API_KEY}` }),
  appizer: (p) => ({ apiKey: `\${${p}_API_KEY}` }),
  vitally: (p) => ({ subdomain: `\${${p}_SUBDOMAIN}`, token: `\${${p}_TOKEN}` }),
  userpilot: (p) => ({ environment: `\${${p}_ENVIRONMENT:-analytex}`, apiKey: `\${${p}_API_KEY}` }),
  formbricks: (p) => ({ environmentId: `\${${p}_ENVIRONMENT_ID}` }),
  segment: (p) => ({ writeKey: `\${${p}_WRITE_KEY}` }),
};

export async function initCommand(options: InitCommandOptions): Promise<number> {
  const source = SOURCES[options.source];
  if (!source)
    throw new UsageError(
      `--source ${options.source}: a starter config has one of ${Object.keys(SOURCES).join(', ')} (for a segment source, see README "Segment stream source")`,
    );
  if (options.destination.length === 0) throw new UsageError(`--destination: name at least one of ${Object.keys(connectors).join(', ')}`);
  for (const type of options.destination) {
    if (!DESTINATIONS[type]) throw new UsageError(`--destination ${type}: unknown type; expected one of ${Object.keys(connectors).join(', ')}`);
  }
  const types = [...new Set(options.destination)];
  const destinations = Object.fromEntries(types.map((type) => [type, { type, ...DESTINATIONS[type](type.toUpperCase()) }]));
  const config = {
    version: 1,
    state: { path: './backflow-state.db' },
    sources: { warehouse: { type: options.source, ...source.settings } },
    destinations,
    syncs: types.map((type) => ({
      name: `users-to-${type}`,
      source: 'warehouse',
      query: source.query,
      primaryKey: 'id',
      destination: type,
      schedule: '*/15 * * * *',
      mapping: connectorFor(type).defaults.mapping,
    })),
  };
  const variables = [
    ...source.variables,
    ...Object.values(destinations).flatMap((settings) =>
      Object.values(settings).flatMap((value) => [...value.matchAll(/\$\{(\w+)(:-[^}]*)?\}/g)].filter((match) => !match[2]).map((match) => match[1])),
    ),
  ];
  const text = `# A starter config written by backflow init: edit the query, the mappings and the schedules.
# Reference: README.md, and the JSON Schema in schema/backflow.schema.json (for editors).
# Secrets are read from environment variables: ${variables.join(', ') || 'none'}.
${stringify(config, { lineWidth: 0 })}`;
  try {
    fs.mkdirSync(path.dirname(path.resolve(options.config)), { recursive: true });
    fs.writeFileSync(options.config, text, { flag: 'wx' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UsageError(`${options.config} already exists: init never overwrites a config (choose another path with -c)`);
    throw new UsageError(`cannot write ${options.config}: ${(error as Error).message}`);
  }
  if (options.json) printJson({ config: options.config, variables });
  else {
    print(
      `Wrote ${options.config}: source ${options.source}, ${types.length} destination${types.length === 1 ? '' : 's'} (${types.join(', ')}), one sync each.`,
    );
    if (variables.length > 0) print(`Set ${variables.join(', ')}, then: backflow validate -c ${options.config}`);
    else print(`Next: backflow validate -c ${options.config}`);
    print(`Try it against local emulators first: backflow sandbox -c ${options.config}`);
  }
  return 0;
}
