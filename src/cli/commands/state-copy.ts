// `backflow state copy --to URL|PATH [--schema NAME]`: copies the config's state into another, empty
// store (SQLite ⇄ PostgreSQL), then says what it copied and how to point the config at the copy.
import path from 'node:path';
import { UsageError } from '../../errors.js';
import { registerSecrets } from '../../redact.js';
import { copyState } from '../../state/copy.js';
import { describeStateLocation, type StateLocation } from '../../state/location.js';
import { describePgUrl } from '../../state/pg/connection.js';
import { load, type GlobalOptions } from '../context.js';
import { n, print, printJson, table } from '../output.js';

const SCHEMA_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/** `--to`: a postgres:// URL (its schema from --schema, default backflow), or else a file path from the cwd. */
export function targetOf(to: string, schema: string | undefined): StateLocation {
  if (/^postgres(ql)?:\/\//i.test(to)) {
    let password: string;
    try {
      password = decodeURIComponent(new URL(to).password);
    } catch {
      throw new UsageError('--to is not a valid postgres:// URL: write it as postgres://user:password@host:5432/database');
    }
    // The password (and so the URL that carries it) never reaches the output; describePgUrl drops it.
    if (password) registerSecrets([to, password]);
    const name = schema ?? 'backflow';
    if (!SCHEMA_NAME.test(name)) throw new UsageError(`--schema "${name}": use letters, digits, "_", "-" or "." (starting with a letter or digit)`);
    return { kind: 'postgres', url: to, schema: name };
  }
  if (schema !== undefined) throw new UsageError('--schema applies to a postgres:// target only; --to names a file here');
  return { kind: 'sqlite', path: path.resolve(to) };
}

/** The change to make in the config so it uses the copy. */
function nextStep(source: StateLocation, target: StateLocation, configFile: string): string {
  const then = 'then backflow plan shows nothing to send for the records already sent.';
  if (target.kind === 'postgres') {
    const set = `state.url: ${describePgUrl(target.url)} (with its password, e.g. url: \${BACKFLOW_STATE_URL}) and state.schema: ${target.schema}`;
    return `Next: in ${configFile}, ${source.kind === 'sqlite' ? `replace state.path with ${set}` : `set ${set}`}; ${then}`;
  }
  const set = `state.path: ${path.relative(path.dirname(path.resolve(configFile)), target.path) || target.path}`;
  return `Next: in ${configFile}, ${source.kind === 'postgres' ? `replace state.url (and state.schema) with ${set}` : `set ${set}`}; ${then}`;
}

export async function stateCopyCommand(options: GlobalOptions & { to: string; schema?: string }): Promise<number> {
  const loaded = load(options, false);
  const target = targetOf(options.to, options.schema);
  const counts = await copyState(loaded.stateLocation, target, { expiryMs: loaded.config.state.lockExpirySeconds * 1000 });
  const from = describeStateLocation(loaded.stateLocation);
  const to = describeStateLocation(target);
  if (options.json) {
    printJson({ from, to, copied: counts });
    return 0;
  }
  print(`Copied the state of ${from} into ${to}:`);
  print(
    table(
      ['TABLE', 'ROWS'],
      Object.entries(counts).map(([name, rows]) => [name, n(rows)]),
    ),
  );
  print(nextStep(loaded.stateLocation, target, options.config));
  return 0;
}
