/**
 * The small HTTP server every worker runs: `/metrics` (Prometheus text format), `/healthz` and
 * `/readyz`. Three read-only routes need no framework.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../lib/log.js';
import { LIVENESS, type ReadinessReport } from './health.js';

/** Options of {@link startHttpServer}. */
export interface HttpServerOptions {
  /** Address to listen on (METRICS_HOST). */
  host: string;
  /** Port to listen on (METRICS_PORT); 0 picks a free one, see {@link HttpServer.port}. */
  port: number;
  /**
   * When `port` is in use, the next ports tried, one by one (two roles started on one host each
   * get one without hand work); 0: only `port`.
   */
  nextPortsToTry?: number;
  /** The registry `/metrics` serves. */
  registry: Registry;
  /** What `/readyz` answers. */
  readiness: () => Promise<ReadinessReport>;
  logger: Logger;
}

/** A listening server. */
export interface HttpServer {
  /** The port actually bound (the free one chosen when asked for 0). */
  readonly port: number;
  /** `http://<host>:<port>`, for logs and tests. */
  readonly url: string;
  /** Stops listening and closes the connections (scrapers keep theirs alive). */
  close(): Promise<void>;
}

function send(response: ServerResponse, status: number, contentType: string, body: string): void {
  response.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  response.end(body);
}

const sendJson = (response: ServerResponse, status: number, body: unknown) =>
  send(response, status, 'application/json; charset=utf-8', `${JSON.stringify(body)}\n`);

async function route(request: IncomingMessage, response: ServerResponse, options: HttpServerOptions): Promise<void> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    response.setHeader('allow', 'GET, HEAD');
    sendJson(response, 405, { error: `${request.method} is not allowed` });
    return;
  }
  const { pathname } = new URL(request.url ?? '/', 'http://localhost');
  switch (pathname) {
    case '/metrics':
      send(response, 200, options.registry.contentType, await options.registry.metrics());
      return;
    case '/healthz':
      sendJson(response, 200, LIVENESS);
      return;
    case '/readyz': {
      const report = await options.readiness();
      sendJson(response, report.status === 'ready' ? 200 : 503, report);
      return;
    }
    default:
      sendJson(response, 404, { error: `no route ${pathname}; try /metrics, /healthz or /readyz` });
  }
}

/** Starts listening; rejects when the address cannot be bound (e.g. the port is in use). */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const server = createServer((request, response) => {
    route(request, response, options).catch((error: Error) => {
      options.logger.error('metrics/health request failed', { path: request.url, error: error.message });
      if (!response.headersSent) sendJson(response, 500, { error: error.message });
      else response.destroy();
    });
  });
  const listen = (port: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  const lastPort = options.port === 0 ? 0 : Math.min(65_535, options.port + (options.nextPortsToTry ?? 0));
  for (let port = options.port; ; port += 1) {
    try {
      await listen(port);
      if (port !== options.port) options.logger.warn('metrics port in use, listening on the next free one', { wanted: options.port, port });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || port >= lastPort) throw error;
    }
  }
  server.on('error', (error) => options.logger.error('metrics/health server error', { error: error.message }));
  const { port } = server.address() as AddressInfo;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  let closing: Promise<void> | undefined;
  return {
    port,
    url: `http://${host}:${port}`,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
