/**
 * `POST /api/documents`: PDF manuals for a mailbox, as multipart/form-data (`agent_email` first,
 * then one or more `file` parts). Every file streams to a temporary file and is checked before any
 * is stored, so an upload is taken whole or refused whole: size (API_MAX_UPLOAD_BYTES, enforced
 * while streaming), not empty, and a PDF by its bytes (the name may lie). At most
 * API_MAX_CONCURRENT_UPLOADS requests are received at once. Names are made safe by
 * `storedDocumentOf`, which keeps every file inside UPLOAD_DIR.
 */
import { mkdir, rename, rm } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Multipart } from '@fastify/multipart';
import { z } from 'zod';
import { mailboxAddressSchema } from '../../features/document-check.js';
import { storedDocumentOf } from '../../features/documents.js';
import { parseInput, type ApiContext } from './context.js';
import { enqueueDocument } from './documents.js';
import { ApiError } from './errors.js';
import { incomingFolderOf, receivePdf, removeStaleIncoming, type ReceivedFile } from './upload-receiver.js';

/** How long a client turned away by the upload limit is asked to wait. */
const UPLOAD_RETRY_AFTER_SECONDS = 10;

/** Limits of a multipart upload: busboy stops reading a file at `maxFileBytes` (a 413). */
export function uploadLimits(maxFileBytes: number) {
  // Files wait on disk until all of a request are checked: at most 10 per request.
  return { fileSize: maxFileBytes, files: 10, fields: 20, fieldSize: 10_000, parts: 40 };
}

/**
 * A refused upload is answered before it is all sent: the rest is read into nothing, so the
 * client, blocked on a full socket, finishes sending and takes the answer on a usable connection.
 * (Node does this itself for a body nobody started reading, such as the 503's.)
 */
function discardRest(request: IncomingMessage): void {
  if (!request.complete) request.resume();
}

const agentEmailSchema = z.object({ agent_email: mailboxAddressSchema });

export function uploadRoutes(context: ApiContext) {
  const { config } = context;
  const incomingFolder = incomingFolderOf(config.UPLOAD_DIR);
  let receiving = 0;

  /** Reads the request's parts: the mailbox and every file, each checked in its temporary file. */
  async function receive(parts: AsyncIterableIterator<Multipart>, temporaryPaths: string[]): Promise<{ agentEmail: string; files: ReceivedFile[] }> {
    let agentEmail: string | undefined;
    const files: ReceivedFile[] = [];
    for await (const part of parts) {
      if (part.type === 'field') {
        if (part.fieldname === 'agent_email') agentEmail = parseInput(agentEmailSchema, { agent_email: part.value }).agent_email;
        continue;
      }
      if (part.fieldname !== 'file') throw new ApiError(400, 'invalid_request', `unexpected file field ${part.fieldname}; send files as "file"`);
      if (agentEmail === undefined) throw new ApiError(400, 'invalid_request', 'agent_email: send the mailbox address before the files');
      files.push(await receivePdf(part, incomingFolder, config.API_MAX_UPLOAD_BYTES, temporaryPaths));
    }
    if (agentEmail === undefined) throw new ApiError(400, 'invalid_request', 'agent_email: the mailbox address is required');
    if (files.length === 0) throw new ApiError(400, 'upload_no_file', 'no file: send one or more PDFs as "file"');
    return { agentEmail, files };
  }

  return async (app: FastifyInstance): Promise<void> => {
    await removeStaleIncoming(incomingFolder);

    app.post('/documents', async (request, reply) => {
      if (receiving >= config.API_MAX_CONCURRENT_UPLOADS) {
        return reply
          .status(503)
          .header('retry-after', String(UPLOAD_RETRY_AFTER_SECONDS))
          .send({
            error: `${receiving} uploads are being received, the most at once (API_MAX_CONCURRENT_UPLOADS); try again in ${UPLOAD_RETRY_AFTER_SECONDS} s`,
            code: 'uploads_busy',
          });
      }
      receiving += 1;
      const temporaryPaths: string[] = [];
      try {
        const { agentEmail, files } = await receive(request.parts(), temporaryPaths);
        const accepted = [];
        for (const file of files) {
          const place = storedDocumentOf(config.UPLOAD_DIR, { agentEmail, filename: file.filename });
          await mkdir(path.dirname(place.path), { recursive: true });
          await rename(file.temporaryPath, place.path);
          const stored = { ...place, bytes: file.bytes };
          await enqueueDocument(context, stored);
          context.logger.info('document uploaded', {
            document_id: stored.documentId,
            agent_email: agentEmail,
            filename: stored.filename,
            bytes: stored.bytes,
            by: request.operator,
          });
          accepted.push({ document_id: stored.documentId, agent_email: agentEmail, filename: stored.filename, status: 'queued' as const });
        }
        return await reply.status(202).send({ documents: accepted });
      } finally {
        receiving -= 1;
        discardRest(request.raw);
        // Whatever was not moved into place: every file of a refused upload, none of an accepted one.
        await Promise.all(temporaryPaths.map((file) => rm(file, { force: true })));
      }
    });
  };
}
