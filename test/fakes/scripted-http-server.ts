/**
 * A loopback HTTP server for fakes of outside APIs: it records every request, answers with
 * responses a test scripted (`enqueue`, first in first out, whatever the path), and otherwise lets
 * the fake's own handler answer.
 */
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A request as the fake received it; `body` is parsed JSON when it was JSON. */
export interface RecordedRequest {
  method: string;
  /** Path without the query string, e.g. `/v1/messages`. */
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/** A response to send: objects go out as JSON, strings as they are. */
export interface ScriptedResponse {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
  /** Waits this long before answering, e.g. to outlast a client's timeout. */
  delayMs?: number;
}

/** A running fake. */
export interface FakeServer {
  /** Root URL, e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** Every request received, oldest first. */
  requests: RecordedRequest[];
  /** Scripts the answer to the next request that has no scripted answer yet. */
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
      const request: RecordedRequest = {
        method: incoming.method ?? 'GET',
        path: new URL(incoming.url ?? '/', 'http://fake').pathname,
        headers: incoming.headers,
        body: parseBody(text),
      };
      requests.push(request);
      const scripted = queue.shift();
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

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}
