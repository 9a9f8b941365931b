/** The vector-store contract: chunks live in one namespace per mailbox (`agent_email`). */

export interface Chunk {
  document_id: string;
  /** Name of the source document, shown in citations. */
  document_name: string;
  /** 1-based page the chunk starts on. */
  page: number;
  /** Position of the chunk within its document, from 0. */
  chunk_index: number;
  text: string;
  /** Heading of the section the chunk belongs to, when the document has headings. */
  section?: string;
  /** Title of the document, from its metadata or first heading. */
  document_title?: string;
}

export interface ScoredChunk extends Chunk {
  /**
   * Relevance in [0, 1], higher is better; comparable with the configured relevance threshold.
   * A figure of its own, not the sort key: results come in rank order.
   */
  score: number;
}

/** A document's chunks in batches, in `chunk_index` order, as a generator produces them. */
export type ChunkBatches = AsyncIterable<Chunk[]> | Iterable<Chunk[]>;

export interface VectorStore {
  readonly provider: string;
  readonly name: string;
  /** Adds chunks to a namespace; a chunk with the same document and index replaces the old one. */
  upsert(namespace: string, chunks: Chunk[]): Promise<void>;
  /**
   * Makes a document's chunks those of `batches`, in place of the ones it had. Each batch is
   * embedded and written before the next is taken, so a document's chunks and vectors are never
   * all in memory at once. Until the last batch is written queries see the previous chunks, and a
   * failure (`batches` throwing, or a write) leaves them: the SQLite store swaps the whole set in
   * one transaction; Pinecone, which has none, deletes the previous chunks first (see its comment).
   */
  replaceDocument(namespace: string, documentId: string, batches: ChunkBatches): Promise<void>;
  /** Removes every chunk of a document from a namespace. */
  deleteDocument(namespace: string, documentId: string): Promise<void>;
  /**
   * The k best-ranked chunks of one namespace, best first, at most one per page (the page's best
   * chunk). Never returns another namespace's chunks.
   */
  query(namespace: string, text: string, k: number): Promise<ScoredChunk[]>;
  close(): Promise<void>;
}
