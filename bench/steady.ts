// Scenario "steady": a second run over N unchanged rows. `backflow sync` reads every row, finds each
// fingerprint unchanged and sends nothing; measures its wall time and peak RSS (GNU time).
//   node dist/bench/steady.js [--rows 1000000] [--repeat 2]
import fs from 'node:fs';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { GamifyHostEmulator } from '../sandbox/gamifyhost.js';
import { API_KEY, benchDir, buildSource, configText, seedState, writeConfig } from './fixtures.js';
import { cliPath, printTable, timeCommand, writeResult } from './measure.js';

export async function benchSteady(rows: number, repeat = 2) {
  const dir = benchDir('steady');
  const emulator = new GamifyHostEmulator([API_KEY]);
  const baseUrl = await emulator.start();
  const warehouse = await buildSource('sqlite', dir, rows);
  try {
    const config = writeConfig(dir, configText(warehouse, { baseUrl, concurrency: 32, requestsPerSecond: 100_000 }));
    await seedState(config);
    const results = [];
    for (let attempt = 0; attempt < repeat; attempt++) {
      const load = os.loadavg()[0];
      const run = await timeCommand(process.execPath, [cliPath, '--config', config, 'sync', '--json']);
      if (run.exitCode !== 0) throw new Error(`backflow sync exited ${run.exitCode}: ${run.stderr.slice(-2000)}`);
      const { counts } = JSON.parse(run.stdout).runs[0];
      if (counts.unchanged !== rows || counts.sent !== 0 || emulator.received.length !== 0) {
        throw new Error(`a steady run must send nothing: ${JSON.stringify(counts)}, emulator received ${emulator.received.length}`);
      }
      results.push({
        scenario: 'steady',
        rows,
        unchanged: counts.unchanged,
        requests: emulator.received.length,
        wallSeconds: run.wallSeconds,
        peakRssMb: run.peakRssMb,
        rowsPerSecond: Math.round(rows / run.wallSeconds),
        load: Number(load.toFixed(2)),
      });
    }
    return results;
  } finally {
    await emulator.stop();
    await warehouse.drop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values } = parseArgs({ options: { rows: { type: 'string', default: '1000000' }, repeat: { type: 'string', default: '2' } } });
  const results = await benchSteady(Number(values.rows), Number(values.repeat));
  printTable('backflow sync, nothing changed', results);
  writeResult(`steady-${values.rows}`, results);
}
