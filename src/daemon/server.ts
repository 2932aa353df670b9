// The daemon's own HTTP endpoint: /healthz (the process answers), /readyz (it can do its job) and
// /metrics (Prometheus text format).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { redact } from '../redact.js';

export interface Readiness {
  ready: boolean;
  /** Why not, for the operator reading /readyz. */
  problems: string[];
}

export interface ServerHandlers {
  readiness(): Readiness;
  metrics(): Promise<{ contentType: string; text: string }>;
}

export interface DaemonServer {
  /** e.g. http://127.0.0.1:9464 */
  url: string;
  close(): Promise<void>;
}

/** Splits `host:port` (the config's `listen`). */
export function parseListen(listen: string): { host: string; port: number } {
  const at = listen.lastIndexOf(':');
  return { host: listen.slice(0, at), port: Number(listen.slice(at + 1)) };
}

function reply(res: http.ServerResponse, status: number, body: unknown, contentType = 'application/json'): void {
  const text = typeof body === 'string' ? body : `${JSON.stringify(body)}\n`;
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(redact(text));
}

export async function startServer(listen: string, handlers: ServerHandlers): Promise<DaemonServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return reply(res, 405, { error: 'use GET' });
    if (path === '/healthz') return reply(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const readiness = handlers.readiness();
      return reply(res, readiness.ready ? 200 : 503, { status: readiness.ready ? 'ready' : 'not ready', problems: readiness.problems });
    }
    if (path === '/metrics') {
      handlers.metrics().then(
        ({ contentType, text }) => reply(res, 200, text, contentType),
        (error: Error) => reply(res, 500, { error: error.message }),
      );
      return;
    }
    reply(res, 404, { error: 'not found: try /healthz, /readyz or /metrics' });
  });
  const { host, port } = parseListen(listen);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(new Error(`cannot listen on ${listen} (daemon.listen): ${error.code === 'EADDRINUSE' ? 'the address is in use' : error.message}`)),
    );
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
