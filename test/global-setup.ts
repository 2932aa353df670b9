// Before any contract or reliability test: build dist/ (tsconfig.build.json, the code without the
// tests), so the CLI the tests spawn and the source reader's worker thread (compiled JavaScript, see
// src/sources/read-in-worker.ts) run the same code as the TypeScript sources under test. Two tiers
// list this setup; the build runs once per test run.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let built = false;

export default function build(): void {
  if (built) return;
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  execFileSync(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', path.join(repo, 'tsconfig.build.json')], { stdio: 'inherit' });
  built = true;
}
