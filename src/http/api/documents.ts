/**
 * The manuals of each mailbox: list them with their ingestion progress, delete one (chunks, file
 * and registry row), or ingest a stored one again. Uploading is in uploads.ts.
 */
import { rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { publishEvent } from '../../messaging/events.js';
import { isInsideFolder, queueDocument, type StoredDocument } from '../../features/documents.js';
import type { DocumentRecord } from '../../store/documents.js';
import { parseInput, type ApiContext } from './context.js';
import { ApiError } from './errors.js';

const listQuery = z.object({ agent_email: z.string().trim().toLowerCase().min(1).optional() });
const documentParams = z.object({ document_id: z.string().min(1) });

/**
 * Registers a stored document as `queued` and publishes it for ingestion; a publish that fails
 * leaves it `failed` with the reason rather than queued for ever.
 */
export async function enqueueDocument(context: ApiContext, stored: StoredDocument): Promise<void> {
  // Registered before the publish, so a fast ingester's progress is never reset to `queued` after the fact.
  await context.documents.register({ document_id: stored.documentId, agent_email: stored.agentEmail, filename: stored.filename, path: stored.path });
  try {
    await queueDocument(context.broker, stored);
  } catch (error) {
    await context.documents.markFailed(stored.documentId, `not queued: ${(error as Error).message}`);
    throw error;
  }
}

/**
 * The folder the upload stored `document` in, when its registered file is inside it; undefined
 * otherwise (a path that names another folder, the upload folder itself, or none).
 */
export function ownFolderOf(uploadDir: string, document: Pick<DocumentRecord, 'document_id' | 'path'>): string | undefined {
  const root = path.resolve(uploadDir);
  const folder = path.resolve(root, document.document_id);
  // One path segment below the root: an id of `.`, `..` or `a/b` names no folder of its own.
  if (path.dirname(folder) !== root || !document.path) return undefined;
  return isInsideFolder(folder, path.resolve(document.path)) ? folder : undefined;
}

export function documentRoutes(context: ApiContext) {
  const { documents, config } = context;

  async function existing(documentId: string): Promise<DocumentRecord> {
    const document = await documents.get(documentId);
    if (!document) throw new ApiError(404, 'document_not_found', `no document ${documentId}`);
    return document;
  }

  return async (app: FastifyInstance): Promise<void> => {
    app.get('/documents', async (request) => {
      const { agent_email: agentEmail } = parseInput(listQuery, request.query);
      return { documents: await documents.list(agentEmail) };
    });

    app.delete('/documents/:document_id', async (request) => {
      const document = await existing(parseInput(documentParams, request.params).document_id);
      await context.services.vectorStore.deleteDocument(document.agent_email, document.document_id);
      // Only the document's own folder (UPLOAD_DIR/<document_id>, see storedDocumentOf) is ever removed,
      // and only when the registry's file is in it: never the upload folder, never another document's.
      const folder = ownFolderOf(config.UPLOAD_DIR, document);
      if (folder) await rm(folder, { recursive: true, force: true });
      await documents.remove(document.document_id);
      await publishEvent(context.broker, 'api', {
        stage: 'deleted',
        document_id: document.document_id,
        agent_email: document.agent_email,
        detail: { filename: document.filename, by: request.operator },
      });
      return { deleted: document.document_id };
    });

    app.post('/documents/:document_id/reingest', async (request, reply) => {
      const document = await existing(parseInput(documentParams, request.params).document_id);
      const file = isInsideFolder(config.UPLOAD_DIR, document.path) ? await stat(document.path).catch(() => undefined) : undefined;
      if (!file?.isFile()) throw new ApiError(409, 'document_file_missing', `the stored file of ${document.filename} is gone; upload it again`);
      await enqueueDocument(context, {
        documentId: document.document_id,
        agentEmail: document.agent_email,
        filename: document.filename,
        path: document.path,
        bytes: file.size,
      });
      return reply.status(202).send({ document: await documents.get(document.document_id) });
    });
  };
}
