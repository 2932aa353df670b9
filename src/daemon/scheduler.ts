// Fires each sync's `schedule` (node-cron, in its `timezone`); what a tick does is the caller's. Each
// tick comes with its scheduled instant (not the moment the timer fired), the same on every process.
import cron, { type ScheduledTask } from 'node-cron';
import type { SyncConfig } from '../config/schema.js';
import type { Logger } from '../log.js';

export class Scheduler {
  private tasks: ScheduledTask[] = [];

  constructor(
    private readonly onTick: (sync: string, instant: Date) => void,
    private readonly log: Logger,
  ) {}

  /** Replaces every schedule with those of `syncs` (a sync without `schedule` is not scheduled). */
  apply(syncs: SyncConfig[]): void {
    this.stop();
    for (const sync of syncs) {
      if (!sync.schedule) continue;
      const log = this.log.child({ sync: sync.name });
      this.tasks.push(
        cron.schedule(sync.schedule, (context) => this.onTick(sync.name, context.date), {
          name: sync.name,
          timezone: sync.timezone,
          // node-cron's own notices (e.g. a tick missed while the process was busy) go to our log.
          logger: {
            info: (message) => log.debug(message),
            warn: (message) => log.warn(message),
            error: (message) => log.error(typeof message === 'string' ? message : { err: message }, 'scheduler error'),
            debug: (message) => log.debug(typeof message === 'string' ? message : { err: message }, 'scheduler'),
          },
        }),
      );
    }
  }

  /** When each scheduled sync fires next. */
  nextRuns(): { sync: string; next: string | null }[] {
    return this.tasks.map((task) => ({ sync: task.name ?? task.id, next: task.getNextRun()?.toISOString() ?? null }));
  }

  stop(): void {
    for (const task of this.tasks) void task.destroy();
    this.tasks = [];
  }
}
