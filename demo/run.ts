// `npm run demo`: no credentials, no network beyond 127.0.0.1. Builds a warehouse of 3,000 users,
// starts a GamifyHost sandbox, then runs the real CLI: plan, sync, change five rows, plan again.
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { buildWarehouse } from './warehouse.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, here.includes(`${path.sep}dist${path.sep}`) ? '../..' : '..');
const work = path.join(repo, '.backflow', 'demo');
const cli = path.join(repo, 'bin', 'backflow.js');

function backflow(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  console.log(`\n$ backflow ${args.join(' ')}`);
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, '--config', path.join(work, 'backflow.yaml'), ...args], { env: { ...process.env, ...env }, stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? 1));
  });
}

function expectExit(step: string, actual: number, expected: number): void {
  if (actual !== expected) throw new Error(`demo step "${step}" exited ${actual}, expected ${expected}`);
}

async function main(): Promise<void> {
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  fs.copyFileSync(path.join(repo, 'demo', 'backflow.yaml'), path.join(work, 'backflow.yaml'));
  buildWarehouse(path.join(work, 'warehouse.db'), 3000);
  console.log(`Built a demo warehouse with 3,000 users in ${path.relative(process.cwd(), work) || '.'}/warehouse.db`);

  const sandbox = new GamifyHostEmulator(['pk_test_demo']);
  const env = { DEMO_GAMIFYHOST_URL: await sandbox.start() };
  console.log(`Started a GamifyHost sandbox at ${env.DEMO_GAMIFYHOST_URL}`);
  try {
    expectExit('validate', await backflow(['validate'], env), 0);
    expectExit('first plan', await backflow(['plan', '--show', '3'], env), 2);
    expectExit('first sync', await backflow(['sync'], env), 0);
    console.log(`\nThe sandbox now holds ${sandbox.profiles.size} profiles (${sandbox.received.length} requests).`);

    const warehouse = new Database(path.join(work, 'warehouse.db'));
    warehouse.exec(`
      update users set plan = 'enterprise', updated_at = '2026-11-23T10:00:00Z' where id in (42, 1001);
      update users set country = 'gb', last_name = 'Byron' where id = 7;
      update users set email = ' ada.new@example.com ' where id = 2500;
      update users set phone = '+1 555 0100 0100 0100 0100' where id = 99;`);
    warehouse.close();
    console.log('\nChanged five rows in the warehouse (ids 7, 42, 99, 1001, 2500).');

    expectExit('second plan', await backflow(['plan'], env), 2);
    const before = sandbox.received.length;
    expectExit('second sync', await backflow(['sync'], env), 0);
    console.log(`\nThe second sync made ${sandbox.received.length - before} requests; id 99 is invalid (phone over 20 characters) and was never sent.`);
    expectExit('runs', await backflow(['runs'], env), 0);
  } finally {
    await sandbox.stop();
  }
}

main().catch((error) => {
  console.error(`demo failed: ${(error as Error).message}`);
  process.exitCode = 1;
});
