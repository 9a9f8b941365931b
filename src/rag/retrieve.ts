/**
 * Retrieval for an email. A long, chatty body dilutes a lexical score (most of its words are not
 * about the question), while the subject usually states the question in a few words but can match
 * on a generic word alone. So the store is asked twice — subject and body together, and the
 * subject alone — and a chunk's score is the mean of its two scores (0 where a query did not
 * return it): relevant only when both the gist and the detail of the email point at it.
 */
import type { ScoredChunk, VectorStore } from '../providers/vector-store/spec.js';

/** Each query looks deeper than k, so a chunk ranked lower by one query still gets both scores. */
const DEPTH_FACTOR = 3;

export async function retrieveForEmail(store: VectorStore, namespace: string, email: { subject: string; body: string }, k: number): Promise<ScoredChunk[]> {
  const subject = email.subject.replace(/^\s*((re|fwd?|aw|sv)\s*:\s*)+/i, '').trim();
  const whole = `${subject}\n${email.body}`;
  if (!subject) return store.query(namespace, whole, k);
  const [byWhole, bySubject] = await Promise.all([store.query(namespace, whole, k * DEPTH_FACTOR), store.query(namespace, subject, k * DEPTH_FACTOR)]);
  const key = (chunk: ScoredChunk) => `${chunk.document_id}#${chunk.chunk_index}`;
  const combined = new Map<string, ScoredChunk>();
  for (const chunk of [...byWhole, ...bySubject]) {
    const known = combined.get(key(chunk));
    combined.set(key(chunk), { ...chunk, score: (known?.score ?? 0) + chunk.score / 2 });
  }
  return [...combined.values()].sort((left, right) => right.score - left.score).slice(0, k);
}
