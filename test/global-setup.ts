// Before any test: build, so the source reader's worker thread (compiled JavaScript, see
// src/sources/read-in-worker.ts) runs the same code as the TypeScript sources under test.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export default function build(): void {
  const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
  execFileSync(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', path.join(repo, 'tsconfig.json')], { stdio: 'inherit' });
}
