// A webhook endpoint on 127.0.0.1 for Backflow's alerts: records every POST with its exact bytes and
// headers, answers 200, and can be made down, slow or failing through the base emulator's faults.
import { HttpEmulator, type ReceivedRequest } from './http-emulator.js';

export class WebhookReceiver extends HttpEmulator {
  constructor() {
    super((request) => (request.method === 'POST' ? { status: 200, body: { received: true } } : { status: 405, body: { error: 'POST only' } }));
  }

  /** Every POST that arrived, retries included, in order. */
  get posts(): ReceivedRequest[] {
    return this.received.filter((request) => request.method === 'POST');
  }

  /** The parsed bodies of the POSTs, one per attempt. */
  get bodies(): Record<string, unknown>[] {
    return this.posts.map((request) => JSON.parse(request.rawBody.toString('utf8')) as Record<string, unknown>);
  }
}
