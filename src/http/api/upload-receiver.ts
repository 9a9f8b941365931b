/**
 * Receiving one uploaded file without holding it in memory: it streams into a temporary file in
 * `<UPLOAD_DIR>/.incoming/` (the upload folder's own filesystem, so storing it is a rename), its
 * type is sniffed from its first bytes as they arrive, and busboy's size limit stops it at
 * API_MAX_UPLOAD_BYTES. Memory per upload stays at a few stream buffers, whatever the file's size.
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { MultipartFile } from '@fastify/multipart';
import { PDF_SNIFF_BYTES, pdfHeadProblem, tooLargeProblem, type DocumentProblem } from '../../features/document-check.js';
import { ApiError } from './errors.js';

/** Temporary files older than this are left over from a process that died mid-upload. */
const STALE_AFTER_MS = 60 * 60 * 1000;

/** The folder of files still being received; a dot name, so it never clashes with a document id. */
export function incomingFolderOf(uploadDir: string): string {
  return path.join(path.resolve(uploadDir), '.incoming');
}

/** A file received whole and checked, waiting in its temporary file. */
export interface ReceivedFile {
  filename: string;
  temporaryPath: string;
  bytes: number;
}

/** The answer to a refused upload: 400 empty, 413 too large, 415 not a PDF. */
function refusal(problem: DocumentProblem): ApiError {
  const [status, code] =
    problem.code === 'document_empty' ? [400, 'upload_empty'] : problem.code === 'document_too_large' ? [413, 'upload_too_large'] : [415, 'upload_not_pdf'];
  return new ApiError(status, code, problem.message);
}

/**
 * Passes bytes through, keeping the first {@link PDF_SNIFF_BYTES}; once it has them (or the file ends)
 * it fails the stream unless they are a PDF's, so a file of another type is refused early.
 */
class PdfSniffer extends Transform {
  bytes = 0;
  private head = Buffer.alloc(0);
  private checked = false;

  constructor(private readonly filename: string) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.byteLength;
    this.push(chunk);
    if (this.checked) return callback();
    this.head = Buffer.concat([this.head, chunk.subarray(0, PDF_SNIFF_BYTES - this.head.byteLength)]);
    if (this.head.byteLength < PDF_SNIFF_BYTES) return callback();
    this.check().then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    if (this.checked) return callback();
    this.check().then(() => callback(), callback);
  }

  private async check(): Promise<void> {
    this.checked = true;
    const problem = await pdfHeadProblem(this.filename || 'the file', this.head);
    if (problem) throw refusal(problem);
  }
}

/**
 * Streams `part` into a new temporary file in `incomingFolder` and checks it. The file's path is
 * added to `temporaryPaths` before anything is written, so the caller removes it whatever happens.
 */
export async function receivePdf(part: MultipartFile, incomingFolder: string, maxBytes: number, temporaryPaths: string[]): Promise<ReceivedFile> {
  await mkdir(incomingFolder, { recursive: true });
  const temporaryPath = path.join(incomingFolder, `${randomUUID()}.part`);
  temporaryPaths.push(temporaryPath);
  const sniffer = new PdfSniffer(part.filename);
  const tooLarge = () => refusal(tooLargeProblem(part.filename || 'the file', maxBytes));
  // busboy stops the file at `maxBytes` and says so; failing the stream at once answers 413 without reading the rest.
  const stopAtLimit = () => part.file.destroy(tooLarge());
  part.file.once('limit', stopAtLimit);
  try {
    await pipeline(part.file, sniffer, createWriteStream(temporaryPath, { flags: 'wx' }));
  } finally {
    part.file.off('limit', stopAtLimit);
  }
  // A file whose last bytes came with the ones over the limit has already ended: busboy only marks it.
  if (part.file.truncated) throw tooLarge();
  return { filename: part.filename, temporaryPath, bytes: sniffer.bytes };
}

/** Removes temporary files a process that died mid-upload left behind. */
export async function removeStaleIncoming(incomingFolder: string, now = Date.now()): Promise<void> {
  const names = await readdir(incomingFolder).catch(() => []);
  for (const name of names) {
    const file = path.join(incomingFolder, name);
    const info = await stat(file).catch(() => undefined);
    if (info && now - info.mtimeMs > STALE_AFTER_MS) await rm(file, { force: true });
  }
}
