/**
 * `GET /manual-files/:document_id?expires=…&signature=…`: a stored manual, opened from a citation
 * in a new tab (the browser's viewer goes to the page of the link's `#page=N`). It takes the signed
 * link of file-links.ts instead of a bearer token, and reads the file only through
 * `openStoredDocument`, which keeps every read inside UPLOAD_DIR.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { openStoredDocument } from '../../features/documents.js';
import { RagmailError } from '../../lib/errors.js';
import type { DocumentRegistry } from '../../store/documents.js';
import { parseInput } from './context.js';
import { ApiError } from './errors.js';
import { MANUAL_FILE_PREFIX, type FileLinkSigner } from './file-links.js';

/** What the file route reads from. */
export interface ManualFileOptions {
  documents: Pick<DocumentRegistry, 'get'>;
  uploadDir: string;
  signer: FileLinkSigner;
}

const fileParams = z.object({ document_id: z.string().min(1) });
const linkQuery = z.object({ expires: z.string().optional(), signature: z.string().optional() });

/** `inline; filename*=…`: the viewer shows the PDF and a save keeps its uploaded name. */
function inlineDisposition(filename: string): string {
  const fallback = filename.replace(/[^\x20-\x7e]|["\\]/g, '_');
  return `inline; filename="${fallback}"; filename*=UTF-8''${encodeURIComponent(filename)}`;
}

export function manualFileRoutes({ documents, uploadDir, signer }: ManualFileOptions) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get(`${MANUAL_FILE_PREFIX}/:document_id`, async (request, reply) => {
      const { document_id: documentId } = parseInput(fileParams, request.params);
      const { expires, signature } = parseInput(linkQuery, request.query);
      const problem = signer.problem(documentId, expires, signature);
      if (problem === 'link_expired') throw new ApiError(403, problem, 'this link to the manual has expired; open the citation from the dashboard again');
      if (problem) throw new ApiError(403, problem, 'this link to the manual is not valid');
      const document = await documents.get(documentId);
      if (!document) throw new ApiError(404, 'document_not_found', `no document ${documentId}`);
      const handle = await openStoredDocument(uploadDir, document.path).catch((error: unknown) => {
        if (error instanceof RagmailError) throw new ApiError(404, 'document_file_missing', `the stored file of ${document.filename} cannot be read`, error);
        throw error;
      });
      const { size } = await handle.stat();
      return (
        reply
          .header('content-type', 'application/pdf')
          .header('content-length', String(size))
          .header('content-disposition', inlineDisposition(document.filename))
          // The link is the credential: nothing on the way may keep the file for someone else.
          .header('cache-control', 'private, no-store')
          .send(handle.createReadStream())
      );
    });
  };
}
