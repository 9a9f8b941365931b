/**
 * Child side of the PDF sandbox (see pdf-sandbox.ts): reads the PDF from the file descriptor the
 * parent handed over, reads its text with the limits it was sent and sends each page's text and the
 * outcome over IPC. It does nothing else, so a hostile PDF can only exhaust this process, which
 * the parent measures and kills.
 */
import { fstatSync, readSync } from 'node:fs';
import { errorCode, isRetryable } from '../lib/errors.js';
import { PDF_FILE_DESCRIPTOR, type ChildReply, type ExtractRequest } from './pdf-sandbox-protocol.js';

// Under tsx source maps are on, and Node would parse the PDF engine's (megabytes of them) into
// ~170 MB of heap as it loads it; this process reports errors by code, not by stack.
process.setSourceMapsEnabled(false);
const { readPdf } = await import('./pdf.js');

/** The whole file open at `descriptor`, from its start whatever was read of it before. */
function readWholeFile(descriptor: number): Uint8Array {
  const bytes = new Uint8Array(fstatSync(descriptor).size);
  for (let offset = 0; offset < bytes.length;) {
    const read = readSync(descriptor, bytes, offset, bytes.length - offset, offset);
    if (read === 0) break;
    offset += read;
  }
  return bytes;
}

/** Resolves once the message is written; a send that fails means the parent is gone (see below). */
function reply(message: ChildReply): Promise<void> {
  return new Promise((resolve) => {
    process.send?.(message, undefined, undefined, () => resolve());
  });
}

// Without its parent there is nobody to report to: stop rather than finish a parse no one reads.
process.on('disconnect', () => process.exit(0));

process.once('message', async (request: ExtractRequest) => {
  try {
    // Read from the file at each opening rather than copied: this process keeps no bytes of its own.
    const info = await readPdf(() => readWholeFile(PDF_FILE_DESCRIPTOR), {
      maxPages: request.maxPages,
      maxPageChars: request.maxPageChars,
      maxDocumentChars: request.maxDocumentChars,
      onPage: (text, pageNumber, total) => void reply({ type: 'page', pageNumber, total, text }),
    });
    await reply({ type: 'done', info, peakResidentBytes: process.resourceUsage().maxRSS * 1024 });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    await reply({ type: 'failed', code: errorCode(error), message, retryable: isRetryable(error) });
  }
  process.disconnect();
});

// Loaded: what this process holds now is its own cost, the parent measures the PDF's on top of it.
await reply({ type: 'ready' });
