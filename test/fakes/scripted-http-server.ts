/**
 * A loopback HTTP server for fakes of outside APIs: it records every request, answers with
 * responses a test scripted (`enqueue`, first in first out, for any path or only for the paths a
 * response names), and otherwise lets the fake's own handler answer. Every fake in this folder
 * runs on it.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the fake received it; `body` is parsed JSON when it was JSON. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. `/v1/messages`. */
  path: string;
  /** The query string's parameters. */
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Parsed JSON, the fields of a form (`application/x-www-form-urlencoded`), the raw text, or undefined when empty. */
  body: unknown;
}

/** A response to send: objects go out as JSON, strings as they are. */
export interface ScriptedResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Waits this long before answering, e.g. to outlast a client's timeout. */
  delayMs?: number;
  /** Only a request whose path starts with this (or matches this pattern) takes it; default any path. */
  path?: string | RegExp;
}

/** A running fake. */
export interface FakeServer {
  /** Root URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** Every request received, oldest first. */
  requests: RecordedRequest[];
  /** Scripts the answer to the next request (whose path matches `response.path`, when given). */
  enqueue(response: ScriptedResponse): void;
  close(): Promise<void>;
}

/** Starts a fake on 127.0.0.1 and a free port; `handle` answers what was not scripted. */
export async function startScriptedServer(
  handle: (request: RecordedRequest) => ScriptedResponse | Promise<ScriptedResponse>,
  defaultHeaders: Record<string, string> = {},
): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const queue: ScriptedResponse[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const server = http.createServer((incoming, outgoing) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const url = new URL(incoming.url ?? '/', 'http://fake');
      const request: RecordedRequest = {
        method: incoming.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: incoming.headers,
        body: parseBody(text, String(incoming.headers['content-type'] ?? '')),
      };
      requests.push(request);
      const position = queue.findIndex((response) => matchesPath(response.path, request.path));
      const scripted = position >= 0 ? queue.splice(position, 1)[0] : undefined;
      Promise.resolve(scripted ?? handle(request))
        .catch((error: unknown): ScriptedResponse => ({ status: 500, body: { fakeError: String(error) } }))
        .then((response) => {
          const send = () => {
            timers.delete(timer);
            if (outgoing.destroyed) return;
            const isText = typeof response.body === 'string';
            const payload = response.body === undefined ? '' : isText ? (response.body as string) : JSON.stringify(response.body);
            outgoing.writeHead(response.status, {
              'content-type': isText ? 'text/plain; charset=utf-8' : 'application/json; charset=utf-8',
              ...defaultHeaders,
              ...response.headers,
            });
            outgoing.end(payload);
          };
          const timer = setTimeout(send, response.delayMs ?? 0);
          timers.add(timer);
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    enqueue: (response) => queue.push(response),
    close: async () => {
      for (const timer of timers) clearTimeout(timer);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function matchesPath(pattern: string | RegExp | undefined, path: string): boolean {
  if (pattern === undefined) return true;
  return typeof pattern === 'string' ? path.startsWith(pattern) : pattern.test(path);
}

function parseBody(text: string, contentType: string): unknown {
  if (text === '') return undefined;
  if (contentType.includes('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(text));
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
