/**
 * responder: retrieves passages from the mailbox's own manuals and asks the model for a grounded
 * reply. When nothing relevant is found the outcome is a hand-off to a person, never a guess.
 */
import { randomUUID } from 'node:crypto';
import type { Handler } from '../messaging/consumer.js';
import type { ContextItem, ToRespondMessage, ToSendMessage } from '../messaging/schemas.js';
import { EXCHANGES, ROUTING_KEYS } from '../messaging/topology.js';
import type { LanguageModel } from '../providers/llm/spec.js';
import type { VectorStore } from '../providers/vector-store/spec.js';
import { replySubject } from '../providers/mailbox/mime.js';
import { cutDetail, limitForModel } from '../rag/model-input.js';
import { retrieveForEmail } from '../rag/retrieve.js';

export interface ResponderDependencies {
  model: LanguageModel;
  store: VectorStore;
  /** Passages to retrieve. */
  k: number;
  /** Passages scoring below this are not relevant. */
  relevanceThreshold: number;
}

/** The reply body when the manuals hold no answer: a promise of a person, not an invented answer. */
export const HANDOFF_BODY = [
  'Hello,',
  '',
  'Thank you for your message. Our documentation does not answer your question, so a member of our support team will get back to you personally.',
  '',
  'Kind regards,',
  'Customer Support',
].join('\n');

export function createResponderHandler({ model, store, k, relevanceThreshold }: ResponderDependencies): Handler<ToRespondMessage> {
  return async (message, context) => {
    const { email } = message;
    // Retrieval and the model read the same bounded text (src/rag/model-input.ts).
    const input = limitForModel({ from: email.from, subject: email.subject, body: email.body });
    if (cutDetail(input).input_cut) context.logger.info('email cut for the model', cutDetail(input));
    const retrievalStarted = Date.now();
    const chunks = await retrieveForEmail(store, email.agent_email, input.email, k);
    const relevant = chunks.filter((chunk) => chunk.score >= relevanceThreshold);
    const topScore = chunks[0]?.score ?? 0;
    const contextUsed: ContextItem[] = relevant.map((chunk) => ({
      document_id: chunk.document_id,
      source: chunk.document_name,
      page: chunk.page,
      chunk_index: chunk.chunk_index,
      similarity_score: chunk.score,
      text: chunk.text,
    }));
    await context.emit({
      stage: 'retrieved',
      email_id: email.email_id,
      agent_email: email.agent_email,
      duration_ms: Date.now() - retrievalStarted,
      provider: store.provider,
      detail: { top_score: topScore, chunks: contextUsed.map(({ source, page, similarity_score }) => ({ source, page, score: similarity_score })) },
    });

    const handoff = contextUsed.length === 0;
    const replyStarted = Date.now();
    const generated = handoff
      ? { body: HANDOFF_BODY, provider: 'none', model: 'none' }
      : await model.reply({ email: input.email, passages: contextUsed }, { signal: context.signal })
          .then((result) => ({ body: result.value.body, provider: result.provider, model: result.model }));

    const next: ToSendMessage = {
      ...message,
      message_id: randomUUID(),
      timestamp: new Date().toISOString(),
      original_message_id: message.message_id,
      generated_response: { subject: replySubject(email.subject), body: generated.body, handoff, provider: generated.provider, model: generated.model, top_score: topScore },
      context_used: contextUsed,
    };
    await context.broker.publish(EXCHANGES.reply, ROUTING_KEYS.send, next, { priority: email.priority });
    await context.emit({
      stage: 'replied',
      email_id: email.email_id,
      agent_email: email.agent_email,
      duration_ms: Date.now() - replyStarted,
      provider: generated.provider,
      model: generated.model,
      detail: { handoff, excerpt: generated.body.slice(0, 280), citations: contextUsed.map(({ source, page }) => ({ source, page })), ...cutDetail(input) },
    });
    context.logger.info(handoff ? 'nothing relevant found: hand-off' : 'reply generated', { top_score: topScore, passages: contextUsed.length });
    return { status: handoff ? 'handoff' : 'replied' };
  };
}
