// The base of every destination emulator: a real HTTP server on 127.0.0.1 that records what it
// received, measures request rates, and can inject faults (latency, 429, 5xx, hangs, dropped
// connections, malformed bodies) so tests exercise the engine exactly as a vendor outage would.
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  at: number;
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON body, or the raw text when it was not JSON. */
  body: unknown;
  rawBody: Buffer;
}

export interface Reply {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export type Fault =
  | { kind: 'status'; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: 'hang' } // never answers; the client must time out
  | { kind: 'drop' } // closes the connection without an answer
  | { kind: 'malformed' } // 200 with a body that is not the documented JSON
  | { kind: 'reset' }; // the vendor processes the request, then the connection is reset halfway through the answer

interface ScheduledFault {
  fault: Fault;
  remaining: number;
  /** Only requests this predicate accepts get the fault (e.g. one record key). */
  when?: (request: ReceivedRequest) => boolean;
}

export type Handler = (request: ReceivedRequest) => Reply | Promise<Reply>;

export class HttpEmulator {
  readonly received: ReceivedRequest[] = [];
  /** Requests accepted (handler answered 2xx). */
  accepted = 0;
  latencyMs = 0;
  private faults: ScheduledFault[] = [];
  private server?: http.Server;
  private readonly sockets = new Set<import('node:net').Socket>();
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  maxInFlight = 0;
  private holding?: { answers: Promise<void>; release: () => void };
  /** Called as each request arrives, before any latency or answer: a test's trigger (e.g. a kill at the Nth request). */
  onRequest?: (request: ReceivedRequest) => void;
  private readonly changeListeners = new Set<() => void>();

  constructor(
    private readonly handler: Handler,
    private readonly options: { maxBodyBytes?: number } = {},
  ) {}

  /**
   * Calls `listener` after each request arrives and after each answer (or fault) is given, so a caller
   * can wait for "N requests received" or "N accepted" without polling. Returns the unsubscribe.
   */
  onChange(listener: () => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  private changed(): void {
    for (const listener of [...this.changeListeners]) listener();
  }

  /** Starts on a free port of 127.0.0.1 and returns the base URL. */
  async start(port = 0): Promise<string> {
    this.server = http.createServer((req, res) => void this.serve(req, res));
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    return this.url;
  }

  get url(): string {
    const address = this.server!.address() as AddressInfo;
    return `http://127.0.0.1:${address.port}`;
  }

  /** Holds every answer (requests still arrive and are recorded) until release(): lets a test act while requests are in flight. */
  hold(): void {
    if (this.holding) return;
    let release!: () => void;
    const answers = new Promise<void>((resolve) => (release = resolve));
    this.holding = { answers, release };
  }

  release(): void {
    this.holding?.release();
    this.holding = undefined;
  }

  /** Resolves once no request is being answered (e.g. after a client was killed mid-request). */
  idle(): Promise<void> {
    return this.inFlight === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async stop(): Promise<void> {
    this.release();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Applies `fault` to the next `times` requests (that `when` accepts). */
  inject(fault: Fault, times = 1, when?: (request: ReceivedRequest) => boolean): void {
    this.faults.push({ fault, remaining: times, when });
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** The most requests that arrived within any window of `windowMs` (sliding). */
  maxInWindow(windowMs: number): number {
    const times = this.received.map((request) => request.at).sort((a, b) => a - b);
    let best = 0;
    let start = 0;
    for (let end = 0; end < times.length; end++) {
      while (times[end] - times[start] >= windowMs) start++;
      best = Math.max(best, end - start + 1);
    }
    return best;
  }

  private takeFault(request: ReceivedRequest): Fault | undefined {
    const scheduled = this.faults.find((entry) => entry.remaining > 0 && (!entry.when || entry.when(request)));
    if (!scheduled) return undefined;
    scheduled.remaining--;
    return scheduled.fault;
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    // A vendor counts a request against its rate limit when it arrives, not once a large body (a
    // bulk request of 10,000 users) has been read and parsed.
    const arrivedAt = Date.now();
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      chunks.push(chunk as Buffer);
    }
    const rawBody = Buffer.concat(chunks);
    let body: unknown = rawBody.toString('utf8');
    try {
      body = JSON.parse(body as string);
    } catch {
      // Left as text: the handler decides whether that is a 400.
    }
    const request: ReceivedRequest = { at: arrivedAt, method: req.method ?? 'GET', path: req.url ?? '/', headers: req.headers, body, rawBody };
    this.received.push(request);
    this.onRequest?.(request);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.changed();
    try {
      if (this.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, this.latencyMs));
      if (this.holding) await this.holding.answers;
      if (this.options.maxBodyBytes && size > this.options.maxBodyBytes) {
        return send(res, { status: 413, body: { message: 'payload too large' } });
      }
      const fault = this.takeFault(request);
      if (fault?.kind === 'hang') return; // the socket stays open until the client gives up
      if (fault?.kind === 'drop') {
        req.socket.destroy();
        return;
      }
      if (fault?.kind === 'malformed') return send(res, { status: 200, body: '<html>upstream proxy error</html>', headers: { 'content-type': 'text/html' } });
      if (fault?.kind === 'status') return send(res, fault);
      const reply = await this.handler(request);
      if (fault?.kind === 'reset') return sendHalfThenReset(res, reply);
      if (reply.status >= 200 && reply.status < 300) this.accepted++;
      send(res, reply);
    } finally {
      this.inFlight--;
      if (this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
      this.changed();
    }
  }
}

function send(res: http.ServerResponse, reply: Reply): void {
  const text = typeof reply.body === 'string' ? reply.body : reply.body === undefined ? '' : JSON.stringify(reply.body);
  res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
  res.end(text);
}

/** The status line, headers and half the body of `reply`, then a TCP reset: the answer is lost mid-way. */
function sendHalfThenReset(res: http.ServerResponse, reply: Reply): void {
  const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? {});
  res.writeHead(reply.status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...reply.headers });
  res.write(text.slice(0, Math.floor(text.length / 2)), () => res.socket?.resetAndDestroy());
}

/** Reads a header the way a server does (Node lower-cases names). */
export function headerOf(request: ReceivedRequest, name: string): string | undefined {
  const value = request.headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
