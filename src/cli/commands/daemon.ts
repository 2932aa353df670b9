// `backflow daemon`: the long-running process (systemd service, container); logs go to stderr.
import { attachedToTerminal, runDaemon, type DaemonService } from '../../daemon/index.js';
import { startIngest } from '../../ingest/index.js';
import { load, type GlobalOptions } from '../context.js';

/** Services started and stopped with the daemon: the Segment ingest endpoints of `segment` sources. */
export const daemonServices: DaemonService[] = [
  {
    name: 'segment ingest',
    start: async (loaded, metrics, log) => {
      const ingest = await startIngest(loaded, {
        onEvent: metrics.ingestEvent,
        onPrune: (source, report) => {
          metrics.ingestPruned(source, report);
          log.info({ source, ...report }, 'events pruned (older than the retention)');
        },
        onPruneError: (source, error) =>
          log.error({ source, err: error }, 'pruning expired events failed: the event store keeps growing until it succeeds (it retries)'),
      });
      metrics.watchEventStores(() => ingest.stores());
      return ingest;
    },
  },
];

export async function daemonCommand(options: GlobalOptions): Promise<number> {
  const code = await runDaemon({
    load: () => load(options),
    services: daemonServices,
    exit: (status) => process.exit(status),
    hangupStops: attachedToTerminal(),
  });
  // Idle keep-alive sockets to destinations must not hold the process open after a clean stop.
  process.exit(code);
}
