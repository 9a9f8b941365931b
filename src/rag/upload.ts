/**
 * Accepting a document for a mailbox: store the file where the ingester can read it, announce it
 * (`queued`, so the registry lists it at once) and publish it to `documents.to_ingest`.
 * Used by the demo, the CLI and the upload API alike.
 */
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Broker } from '../messaging/broker.js';
import { publishEvent } from '../messaging/events.js';
import type { ToIngestMessage } from '../messaging/schemas.js';
import { EXCHANGES, ROUTING_KEYS } from '../messaging/topology.js';

export interface DocumentUpload {
  agentEmail: string;
  filename: string;
  data: Uint8Array;
  /** Re-ingest an existing document: its old chunks are replaced. Default: a new id per mailbox and file name. */
  documentId?: string;
}

/** Stable id per mailbox and file name, so uploading the same manual again replaces it. */
export function documentIdFor(agentEmail: string, filename: string): string {
  return createHash('sha256').update(`${agentEmail.toLowerCase()}\n${filename}`).digest('hex').slice(0, 24);
}

/** A file name safe to store: no folders, no leading dots, no control characters. */
export function safeFileName(filename: string): string {
  const base = path.basename(filename.replace(/\\/g, '/')).replace(/[\u0000-\u001f/]/g, '').replace(/^\.+/, '').trim();
  return base.slice(0, 200) || 'document.pdf';
}

export async function submitDocument(broker: Broker, uploadDir: string, upload: DocumentUpload): Promise<ToIngestMessage> {
  const filename = safeFileName(upload.filename);
  const documentId = upload.documentId ?? documentIdFor(upload.agentEmail, filename);
  const folder = path.resolve(uploadDir, documentId);
  await mkdir(folder, { recursive: true });
  const filePath = path.join(folder, filename);
  await writeFile(filePath, upload.data);
  const message: ToIngestMessage = {
    message_id: randomUUID(),
    timestamp: new Date().toISOString(),
    original_message_id: null,
    document_id: documentId,
    agent_email: upload.agentEmail.toLowerCase(),
    filename,
    path: filePath,
  };
  await publishEvent(broker, 'upload', { stage: 'queued', document_id: documentId, agent_email: message.agent_email, detail: { filename, path: filePath, bytes: upload.data.byteLength } });
  await broker.publish(EXCHANGES.document, ROUTING_KEYS.ingest, message);
  return message;
}
