// Where a PostgreSQL state is, said without its password, and what its server's refusals mean to
// the user: every failure to connect or to use the schema becomes one line naming the server, the
// database or the schema, and what to change.
import { StateError } from '../../errors.js';

export interface PgLocation {
  url: string;
  schema: string;
}

/** The URL as messages show it: no password, ever. */
export function describePgUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = '';
    return parsed.toString();
  } catch {
    return 'the state.url (not a valid URL)';
  }
}

/** The state as messages name it: the URL without its password, and the schema. */
export function describePgLocation(location: PgLocation): string {
  return `${describePgUrl(location.url)} (schema ${location.schema})`;
}

/** A connection to the state's database whose search_path is the state's schema (its tables unqualified). */
export function schemaConnection(location: PgLocation): { connectionString: string; application_name: string; options: string } {
  return { connectionString: location.url, application_name: 'backflow', options: `-c search_path=${quoteIdent(location.schema)}` };
}

/** host:port/database, for messages. */
function serverOf(url: string): { server: string; database: string; user: string } {
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username) || 'postgres';
  return { server: `${parsed.hostname || 'localhost'}:${parsed.port || 5432}`, database, user: decodeURIComponent(parsed.username) || '(default user)' };
}

/** A quoted identifier for the schema (validated by the config as a plain name). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** The settings a message tells the user to change: the config's, or a command's options (state copy --to). */
export interface PgSettingNames {
  url: string;
  schema: string;
}

const CONFIG_SETTINGS: PgSettingNames = { url: 'state.url', schema: 'state.schema' };

/** The server's (or the network's) refusal as a StateError that says what to do. */
export function explainPgError(error: unknown, location: PgLocation, settings: PgSettingNames = CONFIG_SETTINGS): Error {
  if (error instanceof StateError) return error;
  const { code, message } = error as { code?: string; message?: string };
  const { server, database, user } = serverOf(location.url);
  const text = message ?? String(error);
  switch (code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ECONNRESET':
      return new StateError(`cannot reach the state database at ${server} (${code}): check that PostgreSQL is running there and that ${settings.url} names it`);
    case '28P01':
    case '28000':
      return new StateError(`the state database at ${server} refused user "${user}" (${text}): check the user and password in ${settings.url}`);
    case '3D000':
      return new StateError(`database "${database}" does not exist on ${server}: create it (createdb ${database}) or point ${settings.url} at another`);
    case '42501':
      return new StateError(
        `user "${user}" may not create or use schema "${location.schema}" in database "${database}" on ${server} (${text}): grant it (grant create on database ${database} to ${user}) or set ${settings.schema} to one it owns`,
      );
    case '57P01':
      return new StateError(`the state database at ${server} ended this connection (${text}): another member took over, or the server restarted`);
    default:
      break;
  }
  if (/timeout|terminated|Connection terminated/i.test(text)) {
    return new StateError(`lost the connection to the state database at ${server} (${text}): check the server, then run again (nothing confirmed is lost)`);
  }
  return new StateError(`state database ${database} at ${server}, schema "${location.schema}": ${text}`);
}
