// The Slack message: readable text and blocks that stay within Slack's limits, whatever the run says.
import { describe, expect, it } from 'vitest';
import { slackBlockProblems } from '../../sandbox/slack.js';
import type { AlertMessage } from './message.js';
import { escapeMrkdwn, fit, slackMessage, type SlackBlock } from './slack.js';

function message(overrides: Partial<AlertMessage> = {}): AlertMessage {
  return {
    id: 'id-1',
    event: 'run.finished',
    test: false,
    sentAt: '2026-05-04T10:15:04.250Z',
    alert: 'oncall',
    reason: 'outcome',
    sync: 'users-to-gamifyhost',
    destination: 'gamify',
    outcome: 'partial',
    runId: 118,
    startedAt: '2026-05-04T10:15:00.062Z',
    finishedAt: '2026-05-04T10:15:04.004Z',
    durationMs: 3942,
    counts: { read: 1200, added: 3, changed: 12, unchanged: 1185, removed: 0, invalid: 0, retry: 0, sent: 14, rejected: 1, failed: 0 },
    refused: 1,
    rejectedAbove: null,
    error: null,
    rejections: [{ key: '77', reason: 'Invalid request body (phone max 20 chars)' }],
    invalid: [],
    host: 'backflow-1',
    via: 'daemon',
    ...overrides,
  };
}

const texts = (blocks: SlackBlock[]) =>
  blocks.flatMap((block) => (block.type === 'context' ? block.elements : block.type === 'section' ? [block.text, ...(block.fields ?? [])] : [block.text]));

describe('slackMessage', () => {
  it('reads as a short notification and a card: sync and outcome, run, counts, rejections, where to look', () => {
    const slack = slackMessage(message());
    expect(slack.text).toBe('Backflow: users-to-gamifyhost: partial (run #118)');
    expect(slack.blocks).toEqual([
      { type: 'header', text: { type: 'plain_text', text: ':large_orange_circle: users-to-gamifyhost: partial', emoji: true } },
      {
        type: 'section',
        fields: [
          { type: 'mrkdwn', text: '*Outcome*\npartial' },
          { type: 'mrkdwn', text: '*Run*\n#118' },
          { type: 'mrkdwn', text: '*Destination*\ngamify' },
          { type: 'mrkdwn', text: '*Duration*\n3.9 s' },
          { type: 'mrkdwn', text: '*Host*\nbackflow-1' },
          { type: 'mrkdwn', text: '*Via*\ndaemon' },
        ],
      },
      { type: 'section', text: { type: 'mrkdwn', text: '*Records*  read 1,200 · sent 14 · rejected 1 · failed 0 · invalid 0 · unchanged 1,185' } },
      { type: 'section', text: { type: 'mrkdwn', text: '*Rejected or failed records*\n• `77` Invalid request body (phone max 20 chars)' } },
      {
        type: 'context',
        elements: [{ type: 'mrkdwn', text: 'Alert `oncall` · 2026-05-04T10:15:04.004Z · details: `backflow runs --sync users-to-gamifyhost`' }],
      },
    ]);
  });

  it('shows the error in a code block, and says how many more records the run refused', () => {
    const rejections = Array.from({ length: 5 }, (_, index) => ({ key: String(index), reason: 'HTTP 400' }));
    const counts = { ...message().counts, rejected: 4, failed: 2 };
    const slack = slackMessage(message({ outcome: 'failed', error: 'source "warehouse": relation "users" does not exist', rejections, counts }));
    expect(slack.blocks[0]).toMatchObject({ text: { text: ':red_circle: users-to-gamifyhost: failed' } });
    expect(texts(slack.blocks).map((text) => text?.text)).toContain('*Error*\n```source "warehouse": relation "users" does not exist```');
    const list = texts(slack.blocks).find((text) => text?.text.startsWith('*Rejected'));
    expect(list?.text.split('\n')).toHaveLength(1 + 5 + 1);
    expect(list?.text).toMatch(/\n… 1 more$/);
  });

  it('names the threshold when rejectedAbove fired the alert, and marks a test message', () => {
    const slack = slackMessage(message({ outcome: 'success', reason: 'rejectedAbove', refused: 73, rejectedAbove: 50, test: true }));
    expect(slack.text).toBe('Backflow: [test] users-to-gamifyhost: success, 73 records refused (above 50) (run #118)');
  });

  it('escapes what Slack would read as markup or links, and keeps every text within its limit', () => {
    const huge = `<!channel> & ${'x'.repeat(10_000)}`;
    const slack = slackMessage(
      message({
        sync: 's'.repeat(140),
        runId: null,
        error: `${huge} \`\`\` end`,
        rejections: [{ key: '`k`', reason: huge }],
        invalid: [{ key: 'i', reason: huge }],
      }),
    );
    expect(slackBlockProblems(slack.blocks)).toEqual([]);
    const all = JSON.stringify(slack);
    expect(all).not.toContain('<!channel>');
    expect(all).toContain('&lt;!channel&gt; &amp; x');
    expect(slack.text).toContain('(run not recorded)');
    const error = texts(slack.blocks).find((text) => text?.text.startsWith('*Error*'))!.text;
    expect(error.endsWith('…```')).toBe(true);
  });

  it('cuts text without breaking an entity', () => {
    expect(fit(escapeMrkdwn('ab&cd'), 4)).toBe('ab…');
    expect(fit('abcdef', 6)).toBe('abcdef');
    expect(fit('abcdefg', 6)).toBe('abcde…');
  });
});
