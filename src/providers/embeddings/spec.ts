/** The embeddings contract: turns texts into fixed-length vectors for semantic retrieval. */

/** Options of one {@link Embedder.embed} call. */
export interface EmbedOptions {
  /** Aborts the request, e.g. when the worker shuts down. */
  signal?: AbortSignal;
}

export interface Embedder {
  /** Provider name, e.g. `gemini`. */
  readonly provider: string;
  /** Model name, e.g. `text-embedding-004`; vectors of different models are not comparable. */
  readonly model: string;
  /** Length of every vector this embedder returns. */
  readonly dimensions: number;
  /**
   * One vector per text, in the order of `texts`, each of length `dimensions`.
   * Failures are RagmailErrors that say whether a retry may succeed.
   */
  embed(texts: string[], options?: EmbedOptions): Promise<number[][]>;
}
