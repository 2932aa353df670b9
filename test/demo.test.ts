// The README's first command: `npm run demo` must work from a fresh clone (it runs the build in dist/,
// which `npm ci` makes through `prepare`, and the test setup makes before any test).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { REPO } from './helpers/index.js';

it('npm run demo plans, syncs, changes five rows and sends only the four valid changes', async () => {
  const { stdout } = await promisify(execFile)('npm', ['run', '--silent', 'demo'], { cwd: REPO, env: { ...process.env, CI: 'true' } });
  expect(stdout).toContain('Sync users-to-gamifyhost: success');
  expect(stdout).toContain('read 3,000  sent 4  rejected 0  failed 0  unchanged 2,995  invalid 1  removed 0');
  expect(stdout).toContain('The second sync made 4 requests');
});
