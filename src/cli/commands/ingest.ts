// `backflow ingest`: serves only the Segment-compatible endpoints of the config's segment sources,
// until SIGINT or SIGTERM; then it stops accepting, finishes what is in flight, and exits.
import { UsageError } from '../../errors.js';
import { startIngest } from '../../ingest/index.js';
import { load, type GlobalOptions } from '../context.js';
import { n, print, printError, printJson } from '../output.js';

export async function ingestCommand(options: GlobalOptions): Promise<number> {
  const loaded = load(options);
  const names = Object.entries(loaded.config.sources)
    .filter(([, source]) => (source as { type: string }).type === 'segment')
    .map(([name]) => name);
  if (names.length === 0)
    throw new UsageError(`${loaded.file} has no segment source: add one under sources (type: segment, listen, writeKeys) to serve Segment events`);

  const counts = { accepted: 0, duplicates: 0, refused: 0 };
  const ingest = await startIngest(loaded, {
    onEvent: (outcome, reason, message) => {
      if (outcome === 'accepted') {
        counts.accepted++;
        if (reason === 'duplicate') counts.duplicates++;
        return;
      }
      counts.refused++;
      if (!options.json) printError(`refused: ${message ?? reason}`);
    },
    onPrune: (source, report) => {
      if (options.json)
        printJson({ source, pruned: report.events, olderThan: report.olderThan, batches: report.batches, longestBatchMs: report.longestBatchMs });
      else
        print(
          `source ${source}: pruned ${n(report.events)} events received before ${report.olderThan} (retention), in ${n(report.batches)} batches of at most ${report.longestBatchMs} ms`,
        );
    },
    onPruneError: (source, error) => printError(`source ${source}: pruning expired events failed (retried later): ${error.message}`),
  });
  const endpoints = names.map((source, index) => ({ source, url: ingest.addresses[index] }));
  if (options.json) printJson({ listening: endpoints });
  else
    for (const { source, url } of endpoints) {
      const { retention } = loaded.config.sources[source] as { retention: string };
      print(
        `source ${source}: listening on ${url} (POST /v1/batch, /v1/identify, /v1/track, /v1/page, /v1/screen, /v1/group, /v1/alias; events kept ${retention})`,
      );
    }

  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await ingest.close();
  if (options.json) printJson({ stopped: true, ...counts });
  else print(`stopped: ${n(counts.accepted)} messages accepted (${n(counts.duplicates)} of them duplicates), ${n(counts.refused)} refused`);
  return 0;
}
