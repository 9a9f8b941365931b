/**
 * Worker-thread side of the MIME parser (see mime-parser.ts): runs postal-mime on each raw email
 * it is sent and posts the parse back. postal-mime's time grows with the number of lines (about
 * 25 µs each), so a crafted email can take minutes; here that blocks only this thread, which the
 * main thread terminates when its time budget runs out.
 */
import { parentPort } from 'node:worker_threads';
import PostalMime, { type Email as ParsedEmail } from 'postal-mime';

/** A raw email to parse: bytes (transferred, not copied) or text. */
export interface ParseRequest {
  raw: ArrayBuffer | string;
}

/** The worker's answers: loaded, a parse (without attachments), or why postal-mime refused the email. */
export type ParseReply = { type: 'ready' } | { type: 'parsed'; parsed: ParsedEmail } | { type: 'failed'; message: string };

/**
 * postal-mime's own limits, far above any real email: a message past one is refused before the
 * time budget is spent on it. Headers are counted over every part (a long Received and DKIM chain
 * is ~20 KB); forwarded emails nest a few levels, not dozens.
 */
const POSTAL_MIME_LIMITS = { maxNestingDepth: 64, maxHeadersSize: 512 * 1024, maxRfc822NestingDepth: 5 };

const port = parentPort;
if (!port) throw new Error('mime-worker.ts runs as a worker thread (see mime-parser.ts)');

port.on('message', async (request: ParseRequest) => {
  let reply: ParseReply;
  try {
    const parsed = await PostalMime.parse(request.raw, POSTAL_MIME_LIMITS);
    // Nothing reads attachments: they would only be copied back to the main thread.
    reply = { type: 'parsed', parsed: { ...parsed, attachments: [] } };
  } catch (error) {
    reply = { type: 'failed', message: error instanceof Error ? error.message : String(error) };
  }
  port.postMessage(reply);
});

port.postMessage({ type: 'ready' } satisfies ParseReply);
