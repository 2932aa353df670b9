// Ctrl-C (SIGINT) or SIGTERM during `backflow sync`: stop feeding, let in-flight requests finish,
// commit, record the run with its real counts, print the summary and exit 130 / 143; a second
// Ctrl-C exits at once, with every confirmed record still committed.
import { once } from 'node:events';
import { beforeEach, describe, expect, it } from 'vitest';
import type { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { ChangeSignal } from './helpers/wait.js';
import { gamifyConfig, gamifyWarehouse, runCli, spawnCli, waitUntil, writeFile } from './helpers/index.js';

const COUNT = 300;

interface RunJson {
  outcome: string;
  error: string | null;
  counts: { sent: number; read: number };
}

describe('backflow sync interrupted by a signal', () => {
  let emulator: GamifyHostEmulator;
  let config: string;

  beforeEach(async () => {
    let dir: string;
    ({ dir, emulator } = await gamifyWarehouse(COUNT));
    // Slow answers, so the signal lands while the sync is mid-way with requests in flight.
    emulator.latencyMs = 20;
    config = writeFile(dir, 'backflow.yaml', gamifyConfig({ url: emulator.url }));
  });

  const confirmedKeys = () => new Set(emulator.sentBodies.map((body) => String(body.externalId)));

  async function runsJson(): Promise<RunJson[]> {
    const runs = await runCli(['--config', config, 'runs', '--json']);
    expect(runs.code).toBe(0);
    return (JSON.parse(runs.stdout) as { runs: RunJson[] }).runs;
  }

  /** The next sync sends exactly the records the interrupted one did not get confirmed, each once. */
  async function expectNextSyncSendsOnlyTheRest(confirmedBefore: Set<string>): Promise<void> {
    const receivedBefore = emulator.sentBodies.length;
    const next = await runCli(['--config', config, 'sync']);
    expect(next.code).toBe(0);
    const resent = emulator.sentBodies.slice(receivedBefore).map((body) => String(body.externalId));
    expect(resent.filter((key) => confirmedBefore.has(key))).toEqual([]);
    expect(new Set(resent).size).toBe(resent.length);
    expect(confirmedBefore.size + resent.length).toBe(COUNT);
    const [latest] = await runsJson();
    expect(latest).toMatchObject({ outcome: 'success', counts: { sent: resent.length } });
  }

  for (const [signal, exitCode] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(`on ${signal}, finishes the requests in flight, records the run as interrupted with what was confirmed, prints the summary and exits ${exitCode}`, async () => {
      const child = spawnCli(['--config', config, 'sync']);
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => (stdout += chunk));
      child.stderr.on('data', (chunk) => (stderr += chunk));
      const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
      await waitUntil('40 records confirmed by the destination', () => emulator.accepted >= 40, emulator);
      child.kill(signal);
      const [code] = await closed;

      expect(code, stderr).toBe(exitCode);
      expect(stderr).toContain(`${signal}: stopping; in-flight requests may finish`);
      const confirmed = confirmedKeys();
      expect(confirmed.size).toBeLessThan(COUNT);
      expect(stdout).toMatch(/^Sync users: interrupted in [\d.]+s \(run 1\)$/m);
      expect(stdout).toContain(`sent ${confirmed.size}  `);

      const [run] = await runsJson();
      expect(run.outcome).toBe('interrupted');
      expect(run.counts.sent).toBe(confirmed.size);
      expect(run.error).toContain('stopped by a shutdown request');

      await expectNextSyncSendsOnlyTheRest(confirmed);
    });
  }

  it('on a second Ctrl-C, exits 130 at once without waiting for answers, with every confirmed record committed and the run recorded', async () => {
    const child = spawnCli(['--config', config, 'sync']);
    let stdout = '';
    let stderr = '';
    const stderrChanges = new ChangeSignal();
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      stderrChanges.notify();
    });
    const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
    await waitUntil('40 records confirmed by the destination', () => emulator.accepted >= 40, emulator);
    // The destination stops answering: only a forced exit can end the run now.
    emulator.hold();
    child.kill('SIGINT');
    await waitUntil('the stopping notice', () => stderr.includes('SIGINT: stopping'), stderrChanges);
    child.kill('SIGINT');
    const [code] = await closed;
    const answered = emulator.accepted;
    emulator.release();

    expect(code, stderr + stdout).toBe(130);
    expect(stdout).toMatch(/^Sync users: interrupted/m);
    expect(stdout).toContain('a second SIGINT: exited without waiting for in-flight requests');
    const [run] = await runsJson();
    expect(run.outcome).toBe('interrupted');
    // Every answer the CLI got before the exit is committed and counted; the held ones are not.
    expect(run.counts.sent).toBe(answered);

    // The next run sends every record not committed (the held ones again), and only those.
    const receivedBefore = emulator.sentBodies.length;
    const next = await runCli(['--config', config, 'sync']);
    expect(next.code).toBe(0);
    expect(emulator.sentBodies.length - receivedBefore).toBe(COUNT - answered);
  });
});
