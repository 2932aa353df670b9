// A strict Slack incoming-webhook emulator: POST {text, blocks} to /services/T…/B…/token as Slack
// documents it. 200 "ok" on success; 400 invalid_payload (not JSON), no_text (neither text nor
// blocks) or invalid_blocks (a block Slack would refuse: unknown type, or over the Block Kit limits:
// 50 blocks, header text 150 characters, section text 3000, 10 fields of 2000, 10 context elements);
// 404 no_service for an unknown webhook; 410 channel_is_archived and 500 rollup_error by fault.
import { HttpEmulator, type ReceivedRequest, type Reply } from './http-emulator.js';

export const SLACK_WEBHOOK_PATH = '/services/T0BACKFLOW/B0ALERTS/x7Fq2LmP9sVd3KcW8nRt4YzA';

const text = (status: number, body: string): Reply => ({ status, body, headers: { 'content-type': 'text/html' } });

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

function textObject(value: unknown, max: number, plainOnly = false): string | undefined {
  if (!isObject(value)) return 'text object expected';
  if (value.type !== 'plain_text' && (plainOnly || value.type !== 'mrkdwn')) return `text type ${String(value.type)} not allowed here`;
  if (typeof value.text !== 'string' || value.text.length === 0) return 'text must be a non-empty string';
  if (value.text.length > max) return `text longer than ${max} characters`;
  return undefined;
}

/** Why Slack would refuse `block`, or undefined. */
function blockProblem(block: unknown): string | undefined {
  if (!isObject(block)) return 'a block must be an object';
  switch (block.type) {
    case 'header':
      return textObject(block.text, 150, true);
    case 'section': {
      if (block.text === undefined && block.fields === undefined) return 'a section needs text or fields';
      if (block.text !== undefined) {
        const problem = textObject(block.text, 3000);
        if (problem) return problem;
      }
      if (block.fields !== undefined) {
        if (!Array.isArray(block.fields) || block.fields.length === 0 || block.fields.length > 10) return 'fields must hold 1 to 10 items';
        for (const field of block.fields) {
          const problem = textObject(field, 2000);
          if (problem) return problem;
        }
      }
      return undefined;
    }
    case 'context': {
      if (!Array.isArray(block.elements) || block.elements.length === 0 || block.elements.length > 10) return 'elements must hold 1 to 10 items';
      for (const element of block.elements) {
        const problem = textObject(element, 3000);
        if (problem) return problem;
      }
      return undefined;
    }
    case 'divider':
      return undefined;
    default:
      return `unknown block type ${String(block.type)}`;
  }
}

export class SlackWebhookEmulator extends HttpEmulator {
  /** Messages Slack would have posted to the channel. */
  readonly posted: { text?: string; blocks?: Json[] }[] = [];

  constructor(readonly path = SLACK_WEBHOOK_PATH) {
    super((request) => this.handle(request));
  }

  get webhookUrl(): string {
    return `${this.url}${this.path}`;
  }

  private handle(request: ReceivedRequest): Reply {
    if (request.path !== this.path) return text(404, 'no_service');
    if (request.method !== 'POST') return text(405, 'invalid_method');
    const json = String(request.headers['content-type'] ?? '').startsWith('application/json');
    if (!json || !isObject(request.body)) return text(400, 'invalid_payload');
    const { text: body, blocks } = request.body;
    const hasText = typeof body === 'string' && body.length > 0;
    if (!hasText && !(Array.isArray(blocks) && blocks.length > 0)) return text(400, 'no_text');
    if (blocks !== undefined) {
      if (!Array.isArray(blocks) || blocks.length > 50) return text(400, 'invalid_blocks');
      if (blocks.some((block) => blockProblem(block) !== undefined)) return text(400, 'invalid_blocks');
    }
    this.posted.push(request.body);
    return text(200, 'ok');
  }
}

/** Why Slack would refuse this message's blocks (for tests that build a message without sending it). */
export function slackBlockProblems(blocks: unknown[]): string[] {
  return blocks.flatMap((block) => blockProblem(block) ?? []);
}
