// Installing: the package name is ours, `npm pack` ships only what runs, and the CLI says its version.
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { REPO, runCli, sqliteTable, tempDir, writeFile } from './helpers/index.js';

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

  it('packs the compiled CLI, its sandbox emulators, the license and the docs, and no tests, TypeScript sources, source maps or benchmarks', async () => {
    const files = await packedFiles();
    expect(files).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'bin/backflow.js', 'dist/src/cli/main.js', 'config.example.yaml']));
    // Every compiled module the CLI can load is in the tarball.
    const built = (dir: string) =>
      (fs.readdirSync(path.join(REPO, dir), { recursive: true }) as string[])
        .filter((file) => file.endsWith('.js') && !file.endsWith('.test.js'))
        .map((file) => `${dir}/${file.split(path.sep).join('/')}`);
    // `backflow sandbox` runs the emulators: they are product code, shipped compiled.
    expect(files).toEqual(expect.arrayContaining([...built('dist/src'), ...built('dist/connectors'), ...built('dist/sandbox')]));
    expect(files).toContain('dist/sandbox/index.js');
    const unwanted = files.filter((file) => /(^|\/)test\/|\.test\.|\.ts$|\.map$|^dist\/(bench|demo)\/|^(src|sandbox|bench|demo|deploy)\//.test(file));
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

  it('runs backflow sandbox from the packed files alone (the emulators are in the tarball)', async () => {
    const dir = tempDir();
    const exec = promisify(execFile);
    const { stdout } = await exec('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], { cwd: REPO });
    const tarball = path.join(dir, (JSON.parse(stdout) as { filename: string }[])[0].filename);
    await exec('tar', ['-xzf', tarball, '-C', dir]);
    // The dependencies as npm would install them (a link to the clone's): only the packed code is new.
    fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(dir, 'package', 'node_modules'));
    sqliteTable(path.join(dir, 'warehouse.db'), 'users', [{ id: 1, name: 'Ada', email: 'ada@example.com', country: 'GB' }]);
    const config = writeFile(
      dir,
      'backflow.yaml',
      `version: 1
sources: { warehouse: { type: sqlite, path: ./warehouse.db } }
destinations: { gamify: { type: gamifyhost, apiKey: "\${GAMIFY_KEY}" } }
syncs: [{ name: users, source: warehouse, query: select * from users, primaryKey: id, destination: gamify }]
`,
    );
    const result = await exec(process.execPath, [path.join(dir, 'package', 'bin', 'backflow.js'), '--config', config, 'sandbox'], {
      env: { ...process.env, CI: 'true' },
    });
    expect(result.stdout).toContain('Sync users: success');
    expect(result.stdout).toContain('gamify (gamifyhost): 1 request, 1 accepted, 0 refused; holds 1 profiles');
  });
});
