/**
 * Whether a document may be taken, asked before anything is stored or queued: not empty, a PDF by
 * its bytes (a name may lie), within the size limit, for a mailbox that is an email address. The
 * upload API (which checks a file as it streams in) and `npm run ingest` (which checks files on
 * disk) ask these questions with this code, so both refuse the same documents with the same words.
 */
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { fileTypeFromBuffer } from 'file-type';
import { z } from 'zod';

/** Bytes file-type needs to tell most types apart (its own `reasonableDetectionSizeInBytes`). */
export const PDF_SNIFF_BYTES = 4100;

/** A mailbox address (`agent_email`), lower-cased: what every message and document of the mailbox is keyed by. */
export const mailboxAddressSchema = z.string().trim().toLowerCase().pipe(z.email('must be an email address'));

/** Why a document is refused; `code` is stable, `message` names the file. */
export interface DocumentProblem {
  code: 'document_unreadable' | 'document_empty' | 'document_not_pdf' | 'document_too_large';
  message: string;
}

/** The problem of a document larger than `maxBytes`, the API_MAX_UPLOAD_BYTES limit. */
export function tooLargeProblem(name: string, maxBytes: number): DocumentProblem {
  return { code: 'document_too_large', message: `${name} is larger than ${maxBytes} bytes (API_MAX_UPLOAD_BYTES)` };
}

/**
 * What is wrong with a document whose first bytes are `head` (up to {@link PDF_SNIFF_BYTES}; fewer
 * only when the file is that short), or undefined for a PDF.
 */
export async function pdfHeadProblem(name: string, head: Uint8Array): Promise<DocumentProblem | undefined> {
  if (head.byteLength === 0) return { code: 'document_empty', message: `${name} is empty` };
  const type = await fileTypeFromBuffer(head);
  if (type?.mime === 'application/pdf') return undefined;
  return { code: 'document_not_pdf', message: `${name} is not a PDF (its content looks like ${type?.mime ?? 'an unknown type'})` };
}

/**
 * Checks a document on disk without reading more than its first bytes: a regular file this process
 * may read, within `maxBytes`, a PDF by its bytes. Undefined when it may be taken.
 */
export async function fileProblem(file: string, maxBytes: number): Promise<DocumentProblem | undefined> {
  const unreadable = (reason: string): DocumentProblem => ({ code: 'document_unreadable', message: `${file} cannot be read: ${reason}` });
  // O_NONBLOCK: a FIFO given by mistake is refused as "not a regular file" instead of hanging the command.
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK).catch((error: NodeJS.ErrnoException) => error);
  if (handle instanceof Error) return unreadable(FILE_ERRORS[handle.code ?? ''] ?? handle.message);
  try {
    const info = await handle.stat();
    if (!info.isFile()) return unreadable('not a regular file');
    if (info.size > maxBytes) return tooLargeProblem(file, maxBytes);
    const head = Buffer.alloc(Math.min(PDF_SNIFF_BYTES, info.size));
    const { bytesRead } = await handle.read(head, 0, head.byteLength, 0);
    return await pdfHeadProblem(file, head.subarray(0, bytesRead));
  } catch (error) {
    return unreadable((error as Error).message);
  } finally {
    await handle.close();
  }
}

/** Node's codes for a file that cannot be opened, in words. */
const FILE_ERRORS: Record<string, string> = {
  ENOENT: 'no such file',
  ENOTDIR: 'a folder on its path is a file',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'a folder, not a file',
  ELOOP: 'too many symbolic links',
};
