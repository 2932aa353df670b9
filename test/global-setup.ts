// Before any contract or reliability test: build dist/ (tsconfig.build.json, the code without the
// tests), so the CLI the tests spawn and the source reader's worker thread (compiled JavaScript, see
// src/sources/read-in-worker.ts) run the same code as the TypeScript sources under test. Two tiers
// list this setup, each loading it afresh; a flag on the main process's global builds once per run.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const BUILT = Symbol.for('backflow.test.built');

export default function build(): void {
  const shared = globalThis as { [BUILT]?: boolean }; // the main process, shared by both tiers
  if (shared[BUILT]) return;
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  execFileSync(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', path.join(repo, 'tsconfig.build.json')], { stdio: 'inherit' });
  shared[BUILT] = true;
}
