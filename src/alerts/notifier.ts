// The hook both run paths call when a run ends (backflow sync and the daemon's runner): one message
// to each alert the run matches, sent in the background, so an alert endpoint that is down, slow or
// failing is logged and counted but never changes a run's outcome or holds up the next run.
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import type { AlertConfig } from '../config/schema.js';
import { runLogger, type Logger } from '../log.js';
import { alertMessage, alertReason, type AlertReason, type RunReport, type Via } from './message.js';
import { alertRequest } from './request.js';
import { deliver } from './send.js';

export type AlertResult = 'sent' | 'failed';

export interface AlertNotifierOptions {
  via: Via;
  log: Logger;
  /** Counts each message by result (the daemon's /metrics). */
  onResult?: (alert: string, result: AlertResult) => void;
}

export class AlertNotifier {
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly options: AlertNotifierOptions) {}

  /** Starts one message per alert that `run` matches, and returns at once; never throws. */
  runEnded(alerts: readonly AlertConfig[], run: RunReport): void {
    for (const alert of alerts) {
      const reason = alertReason(alert, run);
      if (!reason) continue;
      const task: Promise<void> = this.send(alert, run, reason).finally(() => this.pending.delete(task));
      this.pending.add(task);
    }
  }

  /** Messages still on their way. */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Resolves once every message started so far is delivered or given up (each within its alert's
   * timeoutSeconds), or after `withinMs`: true when none is left.
   */
  async settled(withinMs = Infinity): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<void>((resolve) => {
      if (Number.isFinite(withinMs)) timer = setTimeout(resolve, Math.max(0, withinMs));
    });
    const all = (async () => {
      while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
    })();
    await Promise.race([all, late]);
    clearTimeout(timer);
    return this.pending.size === 0;
  }

  private async send(alert: AlertConfig, run: RunReport, reason: AlertReason): Promise<void> {
    const log = runLogger(run.sync, run.runId ?? undefined, this.options.log);
    const about = { alert: alert.name, type: alert.type, outcome: run.outcome, reason };
    let result: AlertResult = 'failed';
    try {
      const message = alertMessage(alert, run, reason, { id: randomUUID(), sentAt: new Date(), host: os.hostname(), via: this.options.via });
      const delivery = await deliver(alertRequest(alert, message), alert.timeoutSeconds);
      const facts = { ...about, status: delivery.status, attempts: delivery.attempts, ms: delivery.ms };
      if (delivery.delivered) {
        result = 'sent';
        log.info(facts, 'alert sent');
      } else {
        log.warn({ ...facts, error: delivery.reason }, "alert not delivered (the run's outcome is unchanged)");
      }
    } catch (error) {
      // A bug here must not become an unhandled rejection: the daemon would report it as one.
      log.error({ ...about, err: error }, "alert failed (the run's outcome is unchanged)");
    }
    this.options.onResult?.(alert.name, result);
  }
}
