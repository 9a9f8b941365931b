/**
 * The document registry: which documents a mailbox uploaded and how far their ingestion got. The
 * upload API registers a document before publishing it to `documents.to_ingest`; the ingester
 * reports progress here, and the dashboard shows it.
 */
import { prepared, type Database } from './database.js';

/** Lifecycle of an upload: queued → processing → ingested | failed. */
export const DOCUMENT_STATUSES = ['queued', 'processing', 'ingested', 'failed'] as const;
/** One of {@link DOCUMENT_STATUSES}. */
export type DocumentStatus = (typeof DOCUMENT_STATUSES)[number];

/** What the upload API knows when it accepts a document. */
export interface DocumentRegistration {
  document_id: string;
  /** The mailbox that owns the document: its chunks live in this namespace only. */
  agent_email: string;
  /** The name the document was uploaded with; shown in citations. */
  filename: string;
  /** Where the stored upload is, readable by the ingester. */
  path: string;
}

/** One registered document and its ingestion progress. */
export interface DocumentRecord extends DocumentRegistration {
  status: DocumentStatus;
  /** Page count, known once the ingester opened the file. */
  pages_total: number | null;
  pages_done: number;
  /** Chunks written to the vector store, known once ingested. */
  chunks: number | null;
  /** Why ingestion failed; null otherwise. */
  error: string | null;
  created_at: string;
  updated_at: string;
}

/**
 * The document registry over one open database. Updates return false when the document is not
 * registered (e.g. removed while its ingestion was queued), so callers can decide to stop.
 */
export class DocumentRegistry {
  constructor(private readonly database: Database) {}

  /**
   * Registers a document as `queued`. Registering an id again (a re-upload) resets its progress,
   * so the registry always describes the latest ingestion.
   */
  register(registration: DocumentRegistration): DocumentRecord {
    const now = new Date().toISOString();
    prepared(
      this.database,
      `INSERT INTO documents
        (document_id, agent_email, filename, path, status, pages_total, pages_done, chunks, error, created_at, updated_at)
      VALUES (@document_id, @agent_email, @filename, @path, 'queued', NULL, 0, NULL, NULL, @now, @now)
      ON CONFLICT (document_id) DO UPDATE SET agent_email = excluded.agent_email, filename = excluded.filename,
        path = excluded.path, status = 'queued', pages_total = NULL, pages_done = 0, chunks = NULL, error = NULL,
        updated_at = excluded.updated_at`,
    ).run({ ...registration, now });
    return this.get(registration.document_id) as DocumentRecord;
  }

  /** The ingester opened the file and found `pagesTotal` pages. */
  markProcessing(documentId: string, pagesTotal: number): boolean {
    return this.update(documentId, "status = 'processing', pages_total = ?, pages_done = 0, error = NULL", pagesTotal);
  }

  /** `pagesDone` pages have been chunked and stored so far. */
  progress(documentId: string, pagesDone: number): boolean {
    return this.update(documentId, 'pages_done = ?', pagesDone);
  }

  /** Ingestion finished: `chunks` chunks from `pages` pages are searchable. */
  markIngested(documentId: string, result: { chunks: number; pages: number }): boolean {
    return this.update(documentId, "status = 'ingested', chunks = ?, pages_total = ?, pages_done = ?, error = NULL", result.chunks, result.pages, result.pages);
  }

  /** Ingestion failed for good (the message was dead-lettered). */
  markFailed(documentId: string, error: string): boolean {
    return this.update(documentId, "status = 'failed', error = ?", error);
  }

  /** One document, or undefined when it is not registered. */
  get(documentId: string): DocumentRecord | undefined {
    return prepared(this.database, 'SELECT * FROM documents WHERE document_id = ?').get(documentId) as DocumentRecord | undefined;
  }

  /** Documents of one mailbox, or of all mailboxes, newest first. */
  list(agentEmail?: string): DocumentRecord[] {
    const statement =
      agentEmail === undefined
        ? prepared(this.database, 'SELECT * FROM documents ORDER BY created_at DESC, document_id')
        : prepared(this.database, 'SELECT * FROM documents WHERE agent_email = ? ORDER BY created_at DESC, document_id');
    return (agentEmail === undefined ? statement.all() : statement.all(agentEmail)) as DocumentRecord[];
  }

  /** Forgets a document. Its chunks in the vector store are the caller's to delete. */
  remove(documentId: string): boolean {
    return prepared(this.database, 'DELETE FROM documents WHERE document_id = ?').run(documentId).changes > 0;
  }

  private update(documentId: string, assignments: string, ...values: (string | number)[]): boolean {
    const result = prepared(this.database, `UPDATE documents SET ${assignments}, updated_at = ? WHERE document_id = ?`).run(
      ...values,
      new Date().toISOString(),
      documentId,
    );
    return result.changes > 0;
  }
}
