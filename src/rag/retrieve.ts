/**
 * Retrieval for an email. A long, chatty body dilutes a lexical score (most of its words are not
 * about the question), while the subject usually states the question in a few words; so the store
 * is asked twice — subject and body together, and the subject alone — and each chunk keeps its
 * better score.
 */
import type { ScoredChunk, VectorStore } from '../providers/vector-store/spec.js';

export async function retrieveForEmail(store: VectorStore, namespace: string, email: { subject: string; body: string }, k: number): Promise<ScoredChunk[]> {
  const subject = email.subject.replace(/^\s*((re|fwd?|aw|sv)\s*:\s*)+/i, '').trim();
  const queries = [`${subject}\n${email.body}`, ...(subject ? [subject] : [])];
  const results = await Promise.all(queries.map((query) => store.query(namespace, query, k)));
  const best = new Map<string, ScoredChunk>();
  for (const chunk of results.flat()) {
    const key = `${chunk.document_id}#${chunk.chunk_index}`;
    const known = best.get(key);
    if (!known || chunk.score > known.score) best.set(key, chunk);
  }
  return [...best.values()].sort((left, right) => right.score - left.score).slice(0, k);
}
