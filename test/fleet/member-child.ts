// A fleet member in a child process, for tests that SIGKILL one: it registers, works one sync's jobs
// with a handler that never returns, and says on stdout (one JSON object a line) when it is ready
// and which job it is running.
import pg from 'pg';
import { Dispatcher } from '../../src/fleet/dispatch.js';
import { Member } from '../../src/fleet/members.js';

const { FLEET_URL, FLEET_SCHEMA, FLEET_SYNC, FLEET_EXPIRY_MS } = process.env;
const db = new pg.Pool({ connectionString: FLEET_URL, options: `-c search_path=${FLEET_SCHEMA}` });
const member = await Member.register(db, { expiryMs: Number(FLEET_EXPIRY_MS) });
const dispatcher = await Dispatcher.start({ url: FLEET_URL!, stateSchema: FLEET_SCHEMA!, db, member, pollMs: 100 });
const say = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
await dispatcher.work([FLEET_SYNC!], (job) => {
  say({ event: 'running', job: job.id, attempt: job.attempt });
  return new Promise(() => {});
});
say({ event: 'ready', member: member.id });
