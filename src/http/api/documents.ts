/**
 * The manuals of each mailbox: list them with their ingestion progress, delete one (chunks, file
 * and registry row), or ingest a stored one again. Uploading is in uploads.ts.
 */
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { publishEvent } from '../../messaging/events.js';
import { submitDocument } from '../../rag/upload.js';
import type { DocumentRecord } from '../../store/documents.js';
import { parseInput, type ApiContext } from './context.js';
import { ApiError } from './errors.js';

const listQuery = z.object({ agent_email: z.string().trim().toLowerCase().min(1).optional() });
const documentParams = z.object({ document_id: z.string().min(1) });

/** True when `file` lies inside `folder` (never the folder itself). */
export function isInside(folder: string, file: string): boolean {
  const relative = path.relative(path.resolve(folder), path.resolve(file));
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

export function documentRoutes(context: ApiContext) {
  const { documents, config } = context;

  function existing(documentId: string): DocumentRecord {
    const document = documents.get(documentId);
    if (!document) throw new ApiError(404, 'document_not_found', `no document ${documentId}`);
    return document;
  }

  return async (app: FastifyInstance): Promise<void> => {
    app.get('/documents', async (request) => {
      const { agent_email: agentEmail } = parseInput(listQuery, request.query);
      return { documents: documents.list(agentEmail) };
    });

    app.delete('/documents/:document_id', async (request) => {
      const document = existing(parseInput(documentParams, request.params).document_id);
      await context.services.vectorStore.deleteDocument(document.agent_email, document.document_id);
      // Only a folder inside UPLOAD_DIR is ever removed, whatever the registry row says.
      const folder = path.dirname(document.path);
      if (document.path && isInside(config.UPLOAD_DIR, folder)) await rm(folder, { recursive: true, force: true });
      documents.remove(document.document_id);
      await publishEvent(context.broker, 'api', {
        stage: 'deleted', document_id: document.document_id, agent_email: document.agent_email,
        detail: { filename: document.filename, by: request.operator },
      });
      return { deleted: document.document_id };
    });

    app.post('/documents/:document_id/reingest', async (request, reply) => {
      const document = existing(parseInput(documentParams, request.params).document_id);
      const data = isInside(config.UPLOAD_DIR, document.path) ? await readFile(document.path).catch(() => undefined) : undefined;
      if (!data) throw new ApiError(409, 'document_file_missing', `the stored file of ${document.filename} is gone; upload it again`);
      // Registered before the publish, so a fast ingester's progress is never reset to `queued` after the fact.
      documents.register({ document_id: document.document_id, agent_email: document.agent_email, filename: document.filename, path: document.path });
      await submitDocument(context.broker, config.UPLOAD_DIR, {
        agentEmail: document.agent_email, filename: document.filename, data, documentId: document.document_id,
      });
      return reply.status(202).send({ document: documents.get(document.document_id) });
    });
  };
}
