/**
 * responder: retrieves passages from the mailbox's own manuals, asks the model for a grounded
 * reply, checks the reply against the passages it cites (src/rag/reply-check.ts) and decides, once,
 * whether it may be sent, must wait as a draft, or is a hand-off to a person (src/rag/decide.ts).
 * When nothing relevant is found the outcome is a hand-off, never a guess.
 */
import { randomUUID } from 'node:crypto';
import { decisionPolicyOf, replySettingsOf, type DecisionSettings, type ReplySettings } from '../features/send-policy.js';
import type { Handler } from '../messaging/consumer.js';
import type { EventFields } from '../pipeline/events.js';
import type { ContextItem, ToRespondMessage, ToSendMessage } from '../pipeline/messages.js';
import { toSend } from '../pipeline/stages.js';
import type { GeneratedReply, LanguageModel } from '../providers/llm/spec.js';
import type { ScoredChunk, VectorStore } from '../providers/vector-store/spec.js';
import { replySubject } from '../providers/mailbox/mime.js';
import { pageUrl } from '../providers/llm/citations.js';
import { handoffBody } from '../providers/llm/reply-framing.js';
import { phrasesFor } from '../providers/llm/reply-phrases.js';
import { decideReply } from '../rag/decide.js';
import { cutDetail, limitForModel } from '../rag/model-input.js';
import { checkReply } from '../rag/reply-check.js';
import { retrieveForEmail } from '../rag/retrieve.js';

export interface ResponderDependencies {
  model: LanguageModel;
  store: VectorStore;
  /** Passages to retrieve. */
  k: number;
  /** Passages scoring below this are not relevant. */
  relevanceThreshold: number;
  /** Decision thresholds, the claim-support threshold, signatures and the manuals' public URLs. */
  config: DecisionSettings & ReplySettings & { REPLY_MIN_SUPPORT: number };
}

/** The sender as a From header would show it, display name included, so a reply can greet by name. */
function fromLine(email: { from: string; from_name?: string | null }): string {
  const name = email.from_name?.replace(/["\\\r\n<>]/g, ' ').trim();
  return name ? `"${name}" <${email.from}>` : email.from;
}

/** The mailbox's own sentences of a reply in `language` (introduction, closing…): no claims to check. */
function framePhrases(language: string | undefined): string[] {
  return Object.values(phrasesFor(language) ?? {}).filter((phrase): phrase is string => typeof phrase === 'string');
}

/** How far the best passage leads the next one from another page: a near tie means the manuals are ambiguous. */
function marginOf(chunks: ScoredChunk[]): number {
  const [best, ...rest] = chunks;
  if (!best) return 0;
  const next = rest.find((chunk) => chunk.document_id !== best.document_id || chunk.page !== best.page);
  return best.score - (next?.score ?? 0);
}

export function createResponderHandler({ model, store, k, relevanceThreshold, config }: ResponderDependencies): Handler<ToRespondMessage> {
  const policy = decisionPolicyOf(config);
  return async (message, context) => {
    const { email, classification } = message;
    const { signature, manualsUrl } = replySettingsOf(config, email.agent_email);
    // Retrieval and the model read the same bounded text (src/rag/model-input.ts).
    const input = limitForModel({ from: fromLine(email), subject: email.subject, body: email.body });
    if (cutDetail(input).input_cut) context.logger.info('email cut for the model', cutDetail(input));
    const retrievalStarted = Date.now();
    const chunks = await retrieveForEmail(store, email.agent_email, input.email, k);
    const relevant = chunks.filter((chunk) => chunk.score >= relevanceThreshold);
    const topScore = chunks[0]?.score ?? 0;
    const contextUsed: ContextItem[] = relevant.map((chunk) => {
      const item: ContextItem = {
        document_id: chunk.document_id,
        source: chunk.document_name,
        page: chunk.page,
        chunk_index: chunk.chunk_index,
        similarity_score: chunk.score,
        text: chunk.text,
        ...(chunk.document_title ? { title: chunk.document_title } : {}),
        ...(chunk.section ? { section: chunk.section } : {}),
      };
      const url = pageUrl(manualsUrl, item);
      return url ? { ...item, url } : item;
    });
    // Said with the reply, on its hop (src/messaging/events.ts, publishHop), stamped now: an attempt
    // whose model call fails leaves no `retrieved` behind, its retry says it again.
    const retrieved: EventFields = {
      stage: 'retrieved',
      timestamp: new Date().toISOString(),
      email_id: email.email_id,
      agent_email: email.agent_email,
      duration_ms: Date.now() - retrievalStarted,
      provider: store.provider,
      detail: { top_score: topScore, chunks: contextUsed.map(({ source, page, similarity_score }) => ({ source, page, score: similarity_score })) },
    };

    const replyStarted = Date.now();
    const generated: GeneratedReply & { provider: string; model: string } =
      contextUsed.length === 0
        ? { body: handoffBody(input.email, classification.language, signature), provider: 'none', model: 'none' }
        : await model
            .reply({ email: input.email, passages: contextUsed, language: classification.language, signature }, { signal: context.signal })
            .then((result) => ({ ...result.value, provider: result.provider, model: result.model }));
    const check =
      contextUsed.length === 0
        ? undefined
        : checkReply(generated.body, contextUsed, {
            question: input.email,
            verdict: generated.verdict,
            minSupport: config.REPLY_MIN_SUPPORT,
            ownText: signature,
            frame: framePhrases(classification.language),
            language: classification.language,
          });
    const decision = decideReply(
      {
        relevantPassages: contextUsed.length,
        topScore,
        margin: marginOf(chunks),
        coverage: check?.coverage,
        verdict: generated.verdict,
        problems: check?.problems,
        classification,
        provider: generated.provider,
      },
      policy,
    );
    const handoff = decision.action === 'handoff';
    // A hand-off promises a person; whatever the model wrote besides is not for the customer.
    const body = handoff ? handoffBody(input.email, classification.language, signature) : generated.body;

    const next: ToSendMessage = {
      ...message,
      message_id: randomUUID(),
      timestamp: new Date().toISOString(),
      original_message_id: message.message_id,
      generated_response: {
        subject: replySubject(email.subject),
        body,
        handoff,
        provider: generated.provider,
        model: generated.model,
        top_score: topScore,
        decision,
      },
      context_used: contextUsed,
    };
    const cited = check?.cited.map((number) => contextUsed[number - 1]!) ?? [];
    const replied: EventFields = {
      stage: 'replied',
      email_id: email.email_id,
      agent_email: email.agent_email,
      duration_ms: Date.now() - replyStarted,
      provider: generated.provider,
      model: generated.model,
      detail: {
        handoff,
        decision,
        ...(generated.verdict ? { verdict: generated.verdict } : {}),
        ...(check ? { coverage: check.coverage, claims: check.claims } : {}),
        excerpt: body.slice(0, 280),
        citations: cited.map(({ source, title, page }) => ({ source, page, ...(title ? { title } : {}) })),
        ...cutDetail(input),
      },
    };
    await context.forward(toSend, next, [retrieved, replied], { priority: email.priority });
    context.logger.info(`reply decided: ${decision.action}`, { top_score: topScore, passages: contextUsed.length, reasons: decision.reasons });
    return { status: handoff ? 'handoff' : 'replied' };
  };
}
