/**
 * `POST /api/documents`: PDF manuals for a mailbox, as multipart/form-data (`agent_email` first,
 * then one or more `file` parts). Every file is read and checked before any is accepted, so an
 * upload is taken whole or refused whole: size (API_MAX_UPLOAD_BYTES, enforced while streaming),
 * not empty, a PDF by its bytes (the name may lie), and a stored name that stays in UPLOAD_DIR.
 */
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Multipart } from '@fastify/multipart';
import { fileTypeFromBuffer } from 'file-type';
import { z } from 'zod';
import { documentIdFor, safeFileName, submitDocument } from '../../rag/upload.js';
import { parseInput, type ApiContext } from './context.js';
import { isInside } from './documents.js';
import { ApiError } from './errors.js';

/** Files one upload request may carry; they are held in memory until all are checked. */
export const MAX_FILES_PER_UPLOAD = 10;

/** Limits of a multipart upload: busboy stops reading a file at `maxFileBytes` (a 413). */
export function uploadLimits(maxFileBytes: number) {
  return { fileSize: maxFileBytes, files: MAX_FILES_PER_UPLOAD, fields: 20, fieldSize: 10_000, parts: 40 };
}

const agentEmailSchema = z.object({ agent_email: z.string().trim().toLowerCase().pipe(z.email('agent_email must be an email address')) });

/** One checked file, ready to store. */
interface AcceptedFile {
  filename: string;
  documentId: string;
  path: string;
  data: Buffer;
}

async function checkFile(uploadDir: string, agentEmail: string, originalName: string, data: Buffer): Promise<AcceptedFile> {
  if (data.byteLength === 0) throw new ApiError(400, 'upload_empty', `${originalName || 'the file'} is empty`);
  const type = await fileTypeFromBuffer(data);
  if (type?.mime !== 'application/pdf') {
    throw new ApiError(415, 'upload_not_pdf', `${originalName || 'the file'} is not a PDF (its content looks like ${type?.mime ?? 'an unknown type'})`);
  }
  const filename = safeFileName(originalName);
  const documentId = documentIdFor(agentEmail, filename);
  const stored = path.join(path.resolve(uploadDir, documentId), filename);
  if (!isInside(uploadDir, stored)) throw new ApiError(400, 'upload_bad_name', `cannot store a file named ${originalName}`);
  return { filename, documentId, path: stored, data };
}

export function uploadRoutes(context: ApiContext) {
  const { config, documents } = context;

  return async (app: FastifyInstance): Promise<void> => {
    app.post('/documents', async (request, reply) => {
      let agentEmail: string | undefined;
      const files: AcceptedFile[] = [];
      const parts: AsyncIterableIterator<Multipart> = request.parts({ limits: uploadLimits(config.API_MAX_UPLOAD_BYTES) });
      for await (const part of parts) {
        if (part.type === 'field') {
          if (part.fieldname === 'agent_email') agentEmail = parseInput(agentEmailSchema, { agent_email: part.value }).agent_email;
          continue;
        }
        if (part.fieldname !== 'file') throw new ApiError(400, 'invalid_request', `unexpected file field ${part.fieldname}; send files as "file"`);
        if (agentEmail === undefined) throw new ApiError(400, 'invalid_request', 'agent_email: send the mailbox address before the files');
        const data = await part.toBuffer().catch((error: { code?: string }) => {
          if (error.code !== 'FST_REQ_FILE_TOO_LARGE') throw error;
          throw new ApiError(413, 'upload_too_large', `${part.filename || 'the file'} is larger than ${config.API_MAX_UPLOAD_BYTES} bytes (API_MAX_UPLOAD_BYTES)`, error);
        });
        files.push(await checkFile(config.UPLOAD_DIR, agentEmail, part.filename, data));
      }
      if (agentEmail === undefined) throw new ApiError(400, 'invalid_request', 'agent_email: the mailbox address is required');
      if (files.length === 0) throw new ApiError(400, 'upload_no_file', 'no file: send one or more PDFs as "file"');

      const accepted = [];
      for (const file of files) {
        // Registered before the publish, so a fast ingester's progress is never reset to `queued` after the fact.
        documents.register({ document_id: file.documentId, agent_email: agentEmail, filename: file.filename, path: file.path });
        try {
          await submitDocument(context.broker, config.UPLOAD_DIR, { agentEmail, filename: file.filename, data: file.data, documentId: file.documentId });
        } catch (error) {
          documents.markFailed(file.documentId, `not queued: ${(error as Error).message}`);
          throw error;
        }
        context.logger.info('document uploaded', { document_id: file.documentId, agent_email: agentEmail, filename: file.filename, bytes: file.data.byteLength, by: request.operator });
        accepted.push({ document_id: file.documentId, agent_email: agentEmail, filename: file.filename, status: 'queued' as const });
      }
      return reply.status(202).send({ documents: accepted });
    });
  };
}
