/**
 * The document registry: which documents a mailbox uploaded and how far their ingestion got. The
 * upload API registers a document before publishing it to `documents.to_ingest`; the ingester
 * reports progress here, and the dashboard shows it.
 */
import type { SqlClient } from './sql.js';

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
  constructor(private readonly database: SqlClient) {}

  /**
   * Registers a document as `queued`. Registering an id again (a re-upload) resets its progress,
   * so the registry always describes the latest ingestion.
   */
  async register(registration: DocumentRegistration): Promise<DocumentRecord> {
    const now = new Date().toISOString();
    const record = await this.database.get<DocumentRecord>(
      `INSERT INTO documents
        (document_id, agent_email, filename, path, status, pages_total, pages_done, chunks, error, created_at, updated_at)
      VALUES (?, ?, ?, ?, 'queued', NULL, 0, NULL, NULL, ?, ?)
      ON CONFLICT (document_id) DO UPDATE SET agent_email = excluded.agent_email, filename = excluded.filename,
        path = excluded.path, status = 'queued', pages_total = NULL, pages_done = 0, chunks = NULL, error = NULL,
        updated_at = excluded.updated_at
      RETURNING *`,
      [registration.document_id, registration.agent_email, registration.filename, registration.path, now, now],
    );
    return record as DocumentRecord;
  }

  /** The ingester opened the file and found `pagesTotal` pages. */
  markProcessing(documentId: string, pagesTotal: number): Promise<boolean> {
    return this.update(documentId, "status = 'processing', pages_total = ?, pages_done = 0, error = NULL", pagesTotal);
  }

  /** `pagesDone` pages have been chunked and stored so far. */
  progress(documentId: string, pagesDone: number): Promise<boolean> {
    return this.update(documentId, 'pages_done = ?', pagesDone);
  }

  /** Ingestion finished: `chunks` chunks from `pages` pages are searchable. */
  markIngested(documentId: string, result: { chunks: number; pages: number }): Promise<boolean> {
    return this.update(documentId, "status = 'ingested', chunks = ?, pages_total = ?, pages_done = ?, error = NULL", result.chunks, result.pages, result.pages);
  }

  /** Ingestion failed for good (the message was dead-lettered). */
  markFailed(documentId: string, error: string): Promise<boolean> {
    return this.update(documentId, "status = 'failed', error = ?", error);
  }

  /** One document, or undefined when it is not registered. */
  get(documentId: string): Promise<DocumentRecord | undefined> {
    return this.database.get<DocumentRecord>('SELECT * FROM documents WHERE document_id = ?', [documentId]);
  }

  /** Documents of one mailbox, or of all mailboxes, newest first. */
  list(agentEmail?: string): Promise<DocumentRecord[]> {
    return agentEmail === undefined
      ? this.database.all<DocumentRecord>('SELECT * FROM documents ORDER BY created_at DESC, document_id')
      : this.database.all<DocumentRecord>('SELECT * FROM documents WHERE agent_email = ? ORDER BY created_at DESC, document_id', [agentEmail]);
  }

  /** Forgets a document. Its chunks in the vector store are the caller's to delete. */
  async remove(documentId: string): Promise<boolean> {
    return (await this.database.run('DELETE FROM documents WHERE document_id = ?', [documentId])).changes > 0;
  }

  private async update(documentId: string, assignments: string, ...values: (string | number)[]): Promise<boolean> {
    const result = await this.database.run(`UPDATE documents SET ${assignments}, updated_at = ? WHERE document_id = ?`, [
      ...values,
      new Date().toISOString(),
      documentId,
    ]);
    return result.changes > 0;
  }
}
