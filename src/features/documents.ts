/**
 * Accepting a document for a mailbox: store the file where the ingester can read it, announce it
 * (`queued`, so the registry lists it at once) and publish it to `documents.to_ingest`.
 * Used by the demo, the CLI and the upload API alike.
 */
import { createHash, randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, realpath, rename, rm, writeFile, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { permanentError } from '../lib/errors.js';
import type { Broker } from '../messaging/broker.js';
import { publishEvent } from '../messaging/events.js';
import type { ToIngestMessage } from '../pipeline/messages.js';
import { toIngest } from '../pipeline/stages.js';

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

/** A file name safe to store: no folders, no leading dots, no control characters, never `.` or `..`. */
export function safeFileName(filename: string): string {
  const base = path
    .basename(filename.replace(/\\/g, '/'))
    .replace(/[\u0000-\u001f/]/g, '')
    .replace(/^[.\s]+/, '')
    .trim();
  return base.slice(0, 200) || 'document.pdf';
}

/** A stored upload, ready to be queued for ingestion. */
export interface StoredDocument {
  documentId: string;
  agentEmail: string;
  filename: string;
  /** Where the file is, inside the upload folder. */
  path: string;
  bytes: number;
}

/** Where an upload is stored: `<uploadDir>/<document id>/<safe file name>`, never outside `uploadDir`. */
export function storedDocumentOf(uploadDir: string, upload: Omit<DocumentUpload, 'data'>): Omit<StoredDocument, 'bytes'> {
  const filename = safeFileName(upload.filename);
  const documentId = upload.documentId ?? documentIdFor(upload.agentEmail, filename);
  return { documentId, agentEmail: upload.agentEmail.toLowerCase(), filename, path: path.join(path.resolve(uploadDir, documentId), filename) };
}

/** Writes the upload's file where the ingester reads it. */
export async function storeDocument(uploadDir: string, upload: DocumentUpload): Promise<StoredDocument> {
  const stored = storedDocumentOf(uploadDir, upload);
  await mkdir(path.dirname(stored.path), { recursive: true });
  // Written beside it, then renamed into place: an ingestion still reading the previous upload of
  // the same name (a long PDF is reopened from its descriptor every 500 pages) keeps reading that
  // file whole, never a mix of the two or a half-written one.
  const partial = `${stored.path}.${randomUUID()}.partial`;
  try {
    await writeFile(partial, upload.data);
    await rename(partial, stored.path);
  } catch (error) {
    await rm(partial, { force: true });
    throw error;
  }
  return { ...stored, bytes: upload.data.byteLength };
}

/** Announces a stored document (`queued`, so the registry lists it at once) and publishes it to `documents.to_ingest`. */
export async function queueDocument(broker: Broker, stored: StoredDocument): Promise<ToIngestMessage> {
  const message: ToIngestMessage = {
    message_id: randomUUID(),
    timestamp: new Date().toISOString(),
    original_message_id: null,
    document_id: stored.documentId,
    agent_email: stored.agentEmail,
    filename: stored.filename,
    path: stored.path,
  };
  await publishEvent(broker, 'upload', {
    stage: 'queued',
    document_id: stored.documentId,
    agent_email: stored.agentEmail,
    detail: { filename: stored.filename, path: stored.path, bytes: stored.bytes },
  });
  await broker.publish(toIngest, message);
  return message;
}

/** Stores an upload and queues it for ingestion. */
export async function submitDocument(broker: Broker, uploadDir: string, upload: DocumentUpload): Promise<ToIngestMessage> {
  return queueDocument(broker, await storeDocument(uploadDir, upload));
}

/** True when `file` is inside `folder` (both absolute and already resolved), never the folder itself. */
export function isInsideFolder(folder: string, file: string): boolean {
  const relative = path.relative(folder, file);
  return relative !== '' && relative !== '..' && !relative.startsWith(`..${path.sep}`) && !path.isAbsolute(relative);
}

/** Errors of a stored file that retrying will not change. */
const unreadableCodes = new Set(['ENOENT', 'ENOTDIR', 'EISDIR', 'EACCES', 'ELOOP']);

function unreadable(filePath: string, error: unknown): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  return code && unreadableCodes.has(code) ? permanentError('document_unreadable', `cannot read ${filePath}: ${code}`, error) : error;
}

/**
 * Opens a stored document for reading, only if it really lies inside `uploadDir`: the path is
 * checked as written (so `/etc/passwd` or `../` escapes touch nothing), then with every symbolic
 * link resolved, so a link inside the folder cannot lead out of it. The last component is opened
 * without following links (and without blocking on a FIFO), and the caller reads through the
 * returned handle, so what is read is what was checked.
 *
 * @throws RagmailError `document_path_forbidden` (outside the folder) or `document_unreadable`
 * (missing, not a file, not permitted), neither retryable.
 */
export async function openStoredDocument(uploadDir: string, filePath: string): Promise<FileHandle> {
  const folder = path.resolve(uploadDir);
  const requested = path.resolve(filePath);
  const forbidden = () => permanentError('document_path_forbidden', `${filePath} is outside the upload folder; nothing was read.`);
  if (!isInsideFolder(folder, requested)) throw forbidden();
  let realFile: string;
  let realFolder: string;
  try {
    [realFolder, realFile] = await Promise.all([realpath(folder), realpath(requested)]);
  } catch (error) {
    throw unreadable(filePath, error);
  }
  if (!isInsideFolder(realFolder, realFile)) throw forbidden();
  const handle = await open(realFile, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch((error: unknown) => {
    throw unreadable(filePath, error);
  });
  if (!(await handle.stat()).isFile()) {
    await handle.close();
    throw permanentError('document_unreadable', `cannot read ${filePath}: not a regular file`);
  }
  return handle;
}
