// Scenario "compare": Backflow against the naive baseline (bench/baseline.ts: read the table, POST
// every row), side by side in one run, on the same warehouse and the same emulator (50 ms per
// answer, 32 requests at a time). Backflow runs twice: after 1% of the rows changed, then again with
// nothing changed. The baseline has no state, so any run costs it one request per row.
//   node dist/bench/compare.js [--rows 100000] [--latency 50] [--concurrency 32]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { API_KEY, benchDir, buildSource, configText, seedState, writeConfig } from './fixtures.js';
import { cliPath, printTable, repoRoot, timeCommand, writeResult } from './measure.js';

export async function benchCompare(rows: number, latencyMs = 50, concurrency = 32) {
  const dir = benchDir('compare');
  const emulator = new GamifyHostEmulator([API_KEY]);
  emulator.latencyMs = latencyMs;
  const baseUrl = await emulator.start();
  const warehouse = await buildSource('sqlite', dir, rows);
  const results: Record<string, unknown>[] = [];
  const measure = async (tool: string, run: string, command: string[], check: (stdout: string) => void) => {
    const before = emulator.received.length;
    const timed = await timeCommand(process.execPath, command);
    if (timed.exitCode !== 0) throw new Error(`${tool} exited ${timed.exitCode}: ${timed.stderr.slice(-2000)}`);
    check(timed.stdout);
    results.push({
      scenario: 'compare',
      rows,
      tool,
      run,
      requests: emulator.received.length - before,
      wallSeconds: timed.wallSeconds,
      peakRssMb: timed.peakRssMb,
    });
  };
  try {
    const config = writeConfig(dir, configText(warehouse, { baseUrl, concurrency, requestsPerSecond: 100_000 }));
    await seedState(config);
    await warehouse.change(100);
    const sync = [cliPath, '--config', config, 'sync', '--json'];
    const changed = Math.floor(rows / 100);
    await measure('backflow', '1% changed', sync, (stdout) => {
      const { counts } = JSON.parse(stdout).runs[0];
      if (counts.sent !== changed || counts.unchanged !== rows - changed) throw new Error(`unexpected counts ${JSON.stringify(counts)}`);
    });
    await measure('backflow', 'nothing changed', sync, (stdout) => {
      if (JSON.parse(stdout).runs[0].counts.sent !== 0) throw new Error('a second run sent records');
    });
    const baseline = path.join(repoRoot, 'dist', 'bench', 'baseline.js');
    await measure(
      'naive script (baseline)',
      'any run',
      [baseline, '--db', path.join(dir, 'warehouse.db'), '--url', baseUrl, '--key', API_KEY, '--concurrency', String(concurrency)],
      (stdout) => {
        const { sent } = JSON.parse(stdout);
        if (sent !== rows) throw new Error(`the baseline sent ${sent} of ${rows}`);
      },
    );
    return results;
  } finally {
    await emulator.stop();
    await warehouse.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({
    options: { rows: { type: 'string', default: '100000' }, latency: { type: 'string', default: '50' }, concurrency: { type: 'string', default: '32' } },
  });
  const results = await benchCompare(Math.min(Number(values.rows), 1_000_000), Number(values.latency), Number(values.concurrency));
  printTable('Backflow vs the naive baseline (same emulator)', results);
  writeResult(`compare-${values.rows}`, results);
}
