// Installing: the package name is ours, `npm pack` ships only what runs, and the CLI says its version.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO, runCli } from './helpers/index.js';

const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
  bin: Record<string, string>;
  license: string;
};

/** The files `npm pack` would put in the tarball, without running its build scripts (dist/ is already built). */
async function packedFiles(): Promise<string[]> {
  const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: REPO });
  return (JSON.parse(stdout) as { files: { path: string }[] }[])[0].files.map((file) => file.path);
}

describe('backflow --version', () => {
  it("prints the package's version and exits 0", async () => {
    const result = await runCli(['--version']);
    expect(result).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
  });
});

describe('the npm package', () => {
  it('is named backflow-etl (the npm name "backflow" is an unrelated package) and installs the command backflow', () => {
    expect(pkg.name).toBe('backflow-etl');
    expect(pkg.bin).toEqual({ backflow: 'bin/backflow.js' });
  });

  it('packs the compiled CLI, the license and the docs, and no tests, TypeScript sources, source maps, benchmarks or sandboxes', async () => {
    const files = await packedFiles();
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'bin/backflow.js', 'dist/src/cli/main.js', 'config.example.yaml']));
    // Every compiled module the CLI can load is in the tarball.
    const built = (dir: string) =>
      (fs.readdirSync(path.join(REPO, dir), { recursive: true }) as string[])
        .filter((file) => file.endsWith('.js') && !file.endsWith('.test.js'))
        .map((file) => `${dir}/${file.split(path.sep).join('/')}`);
    expect(files).toEqual(expect.arrayContaining([...built('dist/src'), ...built('dist/connectors')]));
    const unwanted = files.filter((file) => /(^|\/)test\/|\.test\.|\.ts$|\.map$|^dist\/(bench|demo|sandbox)\/|^(src|sandbox|bench|demo|deploy)\//.test(file));
    expect(unwanted).toEqual([]);
  });

  it('ships the Apache-2.0 license text that package.json names', () => {
    expect(pkg.license).toBe('Apache-2.0');
    const license = fs.readFileSync(path.join(REPO, 'LICENSE'), 'utf8');
    expect(license).toContain('Apache License');
    expect(license).toContain('Version 2.0, January 2004');
    expect(license).toContain('TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION');
    expect(license.length).toBeGreaterThan(10_000);
  });

  it('is what the README and the systemd unit tell a user to install, never the unrelated "backflow"', () => {
    for (const file of ['README.md', 'deploy/backflow.service']) {
      const text = fs.readFileSync(path.join(REPO, file), 'utf8');
      expect(text, file).toContain('npm install -g backflow-etl');
      expect(text.match(/npm install -g backflow(?!-etl)\b/g), file).toBeNull();
    }
  });
});
