// `backflow alert test [--alert NAME]`: sends a sample message to an alert (or to each) so a user
// sees it arrive, and reports what the endpoint answered.
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { alertMessage, sampleReport } from '../../alerts/message.js';
import { alertRequest } from '../../alerts/request.js';
import { deliver, type Delivery } from '../../alerts/send.js';
import { unknownName } from '../../config/closest.js';
import { UsageError } from '../../errors.js';
import { load, type GlobalOptions } from '../context.js';
import { print, printJson } from '../output.js';

export async function alertTestCommand(options: GlobalOptions & { alert?: string }): Promise<number> {
  const loaded = load(options);
  const { alerts, syncs } = loaded.config;
  if (alerts.length === 0) throw new UsageError(`${loaded.file} defines no alerts: add an alerts: list (README.md, "Alerts")`);
  const chosen = options.alert ? alerts.filter((alert) => alert.name === options.alert) : alerts;
  if (chosen.length === 0) {
    throw new UsageError(
      unknownName(
        'alert',
        options.alert!,
        alerts.map((alert) => alert.name),
      ),
    );
  }

  const results: ({ alert: string; type: string } & Delivery)[] = [];
  for (const alert of chosen) {
    const message = alertMessage(alert, sampleReport(alert, syncs), 'outcome', {
      id: randomUUID(),
      sentAt: new Date(),
      host: os.hostname(),
      via: 'alert test',
      test: true,
    });
    const delivery = await deliver(alertRequest(alert, message), alert.timeoutSeconds);
    results.push({ alert: alert.name, type: alert.type, ...delivery });
    if (options.json) continue;
    const tries = `${delivery.attempts} attempt${delivery.attempts === 1 ? '' : 's'}, ${delivery.ms} ms`;
    print(
      delivery.delivered
        ? `alert "${alert.name}" (${alert.type}): delivered, HTTP ${delivery.status} (${tries})`
        : `alert "${alert.name}" (${alert.type}): not delivered: ${delivery.reason} (${tries})`,
    );
  }
  if (options.json) printJson({ alerts: results });
  return results.every((result) => result.delivered) ? 0 : 1;
}
