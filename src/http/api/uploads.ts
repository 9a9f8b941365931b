/**
 * `POST /api/documents`: PDF manuals for a mailbox, as multipart/form-data (`agent_email` first,
 * then one or more `file` parts). Every file is read and checked before any is stored, so an
 * upload is taken whole or refused whole: size (API_MAX_UPLOAD_BYTES, enforced while streaming by
 * the limits registered in app.ts), not empty, and a PDF by its bytes (the name may lie). Names
 * are made safe by `storeDocument`, which keeps every file inside UPLOAD_DIR.
 */
import type { FastifyInstance } from 'fastify';
import type { Multipart } from '@fastify/multipart';
import { fileTypeFromBuffer } from 'file-type';
import { z } from 'zod';
import { storeDocument } from '../../rag/upload.js';
import { parseInput, type ApiContext } from './context.js';
import { enqueueDocument } from './documents.js';
import { ApiError } from './errors.js';

/** Limits of a multipart upload: busboy stops reading a file at `maxFileBytes` (a 413). */
export function uploadLimits(maxFileBytes: number) {
  // Files are held in memory until all of a request are checked: at most 10 per request.
  return { fileSize: maxFileBytes, files: 10, fields: 20, fieldSize: 10_000, parts: 40 };
}

const agentEmailSchema = z.object({ agent_email: z.string().trim().toLowerCase().pipe(z.email('agent_email must be an email address')) });

/** One file of the request, as uploaded. */
interface UploadedFile {
  filename: string;
  data: Buffer;
}

async function checkFile(filename: string, data: Buffer): Promise<UploadedFile> {
  if (data.byteLength === 0) throw new ApiError(400, 'upload_empty', `${filename || 'the file'} is empty`);
  const type = await fileTypeFromBuffer(data);
  if (type?.mime !== 'application/pdf') {
    throw new ApiError(415, 'upload_not_pdf', `${filename || 'the file'} is not a PDF (its content looks like ${type?.mime ?? 'an unknown type'})`);
  }
  return { filename, data };
}

export function uploadRoutes(context: ApiContext) {
  const { config } = context;

  return async (app: FastifyInstance): Promise<void> => {
    app.post('/documents', async (request, reply) => {
      let agentEmail: string | undefined;
      const files: UploadedFile[] = [];
      const parts: AsyncIterableIterator<Multipart> = request.parts();
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
        files.push(await checkFile(part.filename, data));
      }
      if (agentEmail === undefined) throw new ApiError(400, 'invalid_request', 'agent_email: the mailbox address is required');
      if (files.length === 0) throw new ApiError(400, 'upload_no_file', 'no file: send one or more PDFs as "file"');

      const accepted = [];
      for (const file of files) {
        const stored = await storeDocument(config.UPLOAD_DIR, { agentEmail, filename: file.filename, data: file.data });
        await enqueueDocument(context, stored);
        context.logger.info('document uploaded', { document_id: stored.documentId, agent_email: agentEmail, filename: stored.filename, bytes: stored.bytes, by: request.operator });
        accepted.push({ document_id: stored.documentId, agent_email: agentEmail, filename: stored.filename, status: 'queued' as const });
      }
      return reply.status(202).send({ documents: accepted });
    });
  };
}
