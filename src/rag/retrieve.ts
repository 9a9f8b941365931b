/**
 * Retrieval for an email: one query made from it (see email-query.ts), passed to the store, whose
 * results come in rank order with a relevance score of their own.
 */
import type { ScoredChunk, VectorStore } from '../providers/vector-store/spec.js';
import { emailQuery } from './email-query.js';

export async function retrieveForEmail(store: VectorStore, namespace: string, email: { subject: string; body: string }, k: number): Promise<ScoredChunk[]> {
  return store.query(namespace, emailQuery(email), k);
}
