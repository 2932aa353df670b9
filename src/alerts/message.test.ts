// Which runs an alert speaks about (on, syncs, rejectedAbove) and what the webhook body says.
import { describe, expect, it } from 'vitest';
import type { AlertConfig, AlertOutcome, SyncConfig } from '../config/schema.js';
import type { RunSummary } from '../engine/sync.js';
import { alertMessage, alertReason, crashReport, runReport, sampleReport, type RunReport } from './message.js';

const sync = { name: 'users', destination: 'gamify' } as SyncConfig;
const orders = { name: 'orders', destination: 'crm' } as SyncConfig;

function alert(overrides: Partial<AlertConfig> = {}): AlertConfig {
  return { name: 'oncall', type: 'webhook', url: 'https://hooks.example.com/x', on: ['failed', 'stopped', 'partial'], timeoutSeconds: 5, ...overrides };
}

function summary(outcome: RunSummary['outcome'], counts: Partial<RunSummary['counts']> = {}, extra: Partial<RunSummary> = {}): RunSummary {
  return {
    runId: 7,
    sync: 'users',
    outcome,
    counts: { read: 10, added: 10, changed: 0, unchanged: 0, removed: 0, invalid: 0, retry: 0, sent: 10, rejected: 0, failed: 0, ...counts },
    durationMs: 1500,
    rejections: [],
    invalid: [],
    ...extra,
  };
}

const run = (outcome: AlertOutcome, counts: Partial<RunSummary['counts']> = {}, of = sync): RunReport => runReport(of, summary(outcome, counts));

describe('alertReason: which runs an alert speaks about', () => {
  it('fires on failed, stopped and partial by default, and stays quiet for success and interrupted', () => {
    const fired = (['success', 'partial', 'failed', 'stopped', 'interrupted'] as const).filter((outcome) => alertReason(alert(), run(outcome)));
    expect(fired).toEqual(['partial', 'failed', 'stopped']);
  });

  it('fires exactly on the outcomes listed in on', () => {
    const only = alert({ on: ['success', 'interrupted'] });
    expect(alertReason(only, run('success'))).toBe('outcome');
    expect(alertReason(only, run('interrupted'))).toBe('outcome');
    expect(alertReason(only, run('failed'))).toBeUndefined();
  });

  it('covers only the syncs listed in syncs, and every sync without it', () => {
    expect(alertReason(alert({ syncs: ['orders'] }), run('failed'))).toBeUndefined();
    expect(alertReason(alert({ syncs: ['orders'] }), run('failed', {}, orders))).toBe('outcome');
    expect(alertReason(alert(), run('failed', {}, orders))).toBe('outcome');
  });

  it('with rejectedAbove, also fires for a run whose outcome is not in on once it refused more than N records', () => {
    const threshold = alert({ on: ['failed', 'stopped'], rejectedAbove: 3 });
    // Refused = rejected by the destination + invalid against its payload schema.
    expect(alertReason(threshold, run('partial', { rejected: 2, invalid: 1 }))).toBeUndefined();
    expect(alertReason(threshold, run('partial', { rejected: 2, invalid: 2 }))).toBe('rejectedAbove');
    expect(alertReason(threshold, run('success', { invalid: 4 }))).toBe('rejectedAbove');
    // Failed records (no answer after every retry) are not refusals.
    expect(alertReason(threshold, run('partial', { failed: 50 }))).toBeUndefined();
    expect(alertReason(threshold, run('failed'))).toBe('outcome');
  });

  it('with rejectedAbove: 0, any refused record fires it; the outcome reason wins when both hold', () => {
    expect(alertReason(alert({ on: ['failed'], rejectedAbove: 0 }), run('success', { invalid: 1 }))).toBe('rejectedAbove');
    expect(alertReason(alert({ on: ['failed'], rejectedAbove: 0 }), run('success'))).toBeUndefined();
    expect(alertReason(alert({ rejectedAbove: 0 }), run('partial', { rejected: 1 }))).toBe('outcome');
  });

  it('rejectedAbove never brings in a sync the alert does not cover', () => {
    expect(alertReason(alert({ syncs: ['orders'], rejectedAbove: 0 }), run('success', { invalid: 9 }))).toBeUndefined();
  });
});

describe('alertMessage: the webhook body', () => {
  it('says which run, what happened, the counts, the error and the first five rejections, with the times', () => {
    const rejections = Array.from({ length: 8 }, (_, index) => ({ key: String(index + 1), reason: `HTTP 400: bad ${index + 1}` }));
    const finishedAt = new Date('2026-05-04T10:15:04.000Z');
    const report = runReport(
      sync,
      summary('partial', { sent: 2, rejected: 8 }, { rejections, invalid: [{ key: '9', reason: 'phone: too long' }] }),
      finishedAt,
    );
    const message = alertMessage(alert({ rejectedAbove: 100 }), report, 'outcome', {
      id: 'id-1',
      sentAt: new Date('2026-05-04T10:15:04.250Z'),
      host: 'box',
      via: 'daemon',
    });
    expect(message).toEqual({
      id: 'id-1',
      event: 'run.finished',
      test: false,
      sentAt: '2026-05-04T10:15:04.250Z',
      alert: 'oncall',
      reason: 'outcome',
      sync: 'users',
      destination: 'gamify',
      outcome: 'partial',
      runId: 7,
      startedAt: '2026-05-04T10:15:02.500Z',
      finishedAt: '2026-05-04T10:15:04.000Z',
      durationMs: 1500,
      counts: { read: 10, added: 10, changed: 0, unchanged: 0, removed: 0, retry: 0, sent: 2, rejected: 8, failed: 0, invalid: 0 },
      refused: 8,
      rejectedAbove: 100,
      error: null,
      rejections: rejections.slice(0, 5),
      invalid: [{ key: '9', reason: 'phone: too long' }],
      host: 'box',
      via: 'daemon',
    });
  });

  it('reports a run that could not be recorded as failed, with no run id and its error', () => {
    const report = crashReport(sync, new Error('the state file is damaged'), 12);
    expect(report).toMatchObject({ sync: 'users', runId: null, outcome: 'failed', error: 'the state file is damaged', counts: { read: 0, sent: 0 } });
    expect(alertReason(alert(), report)).toBe('outcome');
  });

  it('samples a failed run of the first sync the alert covers, for backflow alert test', () => {
    const sample = sampleReport(alert({ syncs: ['orders'] }), [sync, orders]);
    expect(sample).toMatchObject({ sync: 'orders', destination: 'crm', outcome: 'failed', runId: 0 });
    expect(sample.rejections).toHaveLength(1);
    expect(sampleReport(alert(), [sync, orders]).sync).toBe('users');
  });
});
