// `backflow daemon`: the long-running process (systemd service, container); logs go to stderr.
import { runDaemon, type DaemonService } from '../../daemon/index.js';
import { load, type GlobalOptions } from '../context.js';

/**
 * Services started and stopped with the daemon. The Segment ingest server joins as
 * `{ name: 'segment ingest', start: (loaded, metrics) => startIngest(loaded, { onEvent: metrics.ingestEvent }) }`.
 */
export const daemonServices: DaemonService[] = [];

export async function daemonCommand(options: GlobalOptions): Promise<number> {
  const code = await runDaemon({ load: () => load(options), services: daemonServices, exit: (status) => process.exit(status) });
  // Idle keep-alive sockets to destinations must not hold the process open after a clean stop.
  process.exit(code);
}
