// An alert as a Slack incoming-webhook message: a one-line `text` (the notification, and what
// clients without blocks show) and Block Kit blocks kept within Slack's documented limits.
import type { AlertMessage } from './message.js';

export type SlackText = { type: 'plain_text'; text: string; emoji: true } | { type: 'mrkdwn'; text: string };
export type SlackBlock =
  | { type: 'header'; text: SlackText & { type: 'plain_text' } }
  | { type: 'section'; text?: SlackText; fields?: SlackText[] }
  | { type: 'context'; elements: SlackText[] };

export interface SlackMessage {
  text: string;
  blocks: SlackBlock[];
}

/** Block Kit limits (Slack's reference): header text 150 characters, section text 3000, each field 2000. */
export const SLACK_LIMITS = { header: 150, section: 3000, field: 2000 } as const;

const OUTCOME_EMOJI: Record<AlertMessage['outcome'], string> = {
  failed: ':red_circle:',
  stopped: ':red_circle:',
  partial: ':large_orange_circle:',
  interrupted: ':white_circle:',
  success: ':large_green_circle:',
};

const numberFormat = new Intl.NumberFormat('en-US');
const n = (value: number) => numberFormat.format(value);

/** Slack's mrkdwn reserves &, < and > (they start entities and links). */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Cuts escaped text to `max` characters, never through an entity, marking the cut with "…". */
export function fit(text: string, max: number): string {
  if (text.length <= max) return text;
  let cut = text.slice(0, max - 1);
  const amp = cut.lastIndexOf('&');
  if (amp > cut.lastIndexOf(';')) cut = cut.slice(0, amp);
  return `${cut}…`;
}

/** Inline code: a backtick would end it early. */
const code = (text: string) => `\`${escapeMrkdwn(text.replace(/`/g, "'"))}\``;

function duration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/** "failed", or "success, 73 records refused (above 50)" when the threshold fired the alert. */
function headline(message: AlertMessage): string {
  const test = message.test ? '[test] ' : '';
  const refused = message.reason === 'rejectedAbove' ? `, ${n(message.refused)} records refused (above ${n(message.rejectedAbove ?? 0)})` : '';
  return `${test}${message.sync}: ${message.outcome}${refused}`;
}

function recordList(title: string, records: AlertMessage['rejections'], total: number): SlackBlock {
  const more = total > records.length ? `\n… ${n(total - records.length)} more` : '';
  const lines = records.map((record) => `• ${code(record.key)} ${fit(escapeMrkdwn(record.reason), 300)}`);
  return { type: 'section', text: { type: 'mrkdwn', text: fit(`*${title}*\n${lines.join('\n')}`, SLACK_LIMITS.section - more.length) + more } };
}

export function slackMessage(message: AlertMessage): SlackMessage {
  const emoji = OUTCOME_EMOJI[message.outcome];
  const run = message.runId === null ? 'not recorded' : `#${message.runId}`;
  const c = message.counts;
  const field = (label: string, value: string): SlackText => ({ type: 'mrkdwn', text: fit(`*${label}*\n${escapeMrkdwn(value)}`, SLACK_LIMITS.field) });

  const blocks: SlackBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: fit(`${emoji} ${headline(message)}`, SLACK_LIMITS.header), emoji: true } },
    {
      type: 'section',
      fields: [
        field('Outcome', message.outcome),
        field('Run', run),
        field('Destination', message.destination),
        field('Duration', duration(message.durationMs)),
        field('Host', message.host),
        field('Via', message.via),
      ],
    },
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `*Records*  read ${n(c.read)} · sent ${n(c.sent)} · rejected ${n(c.rejected)} · failed ${n(c.failed)} · invalid ${n(c.invalid)} · unchanged ${n(c.unchanged)}`,
      },
    },
  ];
  if (message.error) {
    // A code block keeps a vendor's message as it was written; "```" inside it would close it.
    const error = fit(escapeMrkdwn(message.error.replace(/```/g, "'''")), SLACK_LIMITS.section - 20);
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: `*Error*\n\`\`\`${error}\`\`\`` } });
  }
  if (message.rejections.length > 0) blocks.push(recordList('Rejected or failed records', message.rejections, c.rejected + c.failed));
  if (message.invalid.length > 0) blocks.push(recordList('Invalid records (not sent)', message.invalid, c.invalid));
  blocks.push({
    type: 'context',
    elements: [
      {
        type: 'mrkdwn',
        text: fit(
          `Alert ${code(message.alert)} · ${escapeMrkdwn(message.finishedAt)} · details: ${code(`backflow runs --sync ${message.sync}`)}`,
          SLACK_LIMITS.section,
        ),
      },
    ],
  });

  return { text: escapeMrkdwn(`Backflow: ${headline(message)} (run ${run})`), blocks };
}
