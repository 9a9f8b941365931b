/**
 * classifier: asks the language model whether an email is a support inquiry, and routes it.
 * Precision first, nothing dropped silently: an email goes to the responder when it is support; it
 * goes there too, with a `review_reason` that makes its reply a draft for a person, when the model is
 * unsure or cannot judge its language; only an email confidently judged not support is ignored.
 */
import { randomUUID } from 'node:crypto';
import { classifierInput } from './classifier-input.js';
import type { Handler } from '../messaging/consumer.js';
import type { Classification, Email, ToClassifyMessage, ToRespondMessage } from '../pipeline/messages.js';
import { toRespond } from '../pipeline/stages.js';
import type { LanguageModel } from '../providers/llm/spec.js';
import { isOwnAddress } from '../providers/mailbox/recipient.js';
import { cutDetail } from '../rag/model-input.js';

/** A support verdict below this confidence is unsure: its reply can only be a draft for review. */
export const MIN_SUPPORT_CONFIDENCE = 0.6;
/**
 * A "not support" verdict below this confidence is unsure too: rather a draft a person discards than
 * a customer left without an answer.
 */
export const MIN_IGNORE_CONFIDENCE = 0.8;

export interface ClassifierDependencies {
  model: LanguageModel;
}

/** The Message-ID of a reply ragmail wrote (src/providers/mailbox/mime.ts, replyMessageId). */
const RAGMAIL_REPLY_ID = /^ragmail\.[0-9a-f]{32}@/i;

/**
 * Whether the email answers a message of the mailbox: it refers to a reply ragmail wrote, or the
 * history it quotes is introduced by a line naming the mailbox ("On …, Support <support@…> wrote:").
 * Such an email is the customer's side of a conversation the mailbox took part in — "still not
 * working", "thanks" — and a person reads it rather than it being ignored.
 */
export function answersTheMailbox(email: Pick<Email, 'agent_email' | 'references' | 'thread_id' | 'body'>): boolean {
  if ([...email.references, email.thread_id ?? ''].some((id) => RAGMAIL_REPLY_ID.test(id))) return true;
  const address = email.agent_email.toLowerCase();
  const lines = email.body.split('\n');
  return lines.some(
    (line, index) => line.toLowerCase().includes(address) && /:\s*$/.test(line) && lines.slice(index + 1, index + 4).some((next) => next.startsWith('>')),
  );
}

/**
 * Why the email's reply must be reviewed, or undefined when the verdict can stand alone.
 * `addressed` is false when the mailbox is not among the To addresses (only Cc'd or Bcc'd): the
 * sender wrote to someone else, who may be answering already. `followUp` is true when the email
 * answers a message of the mailbox ({@link answersTheMailbox}).
 */
export function reviewReason(
  classification: Pick<Classification, 'is_support_inquiry' | 'confidence' | 'review_reason'>,
  addressed: boolean,
  followUp = false,
): string | undefined {
  if (classification.review_reason) return classification.review_reason;
  const { is_support_inquiry: isSupport, confidence } = classification;
  if (!isSupport && followUp)
    return `a reply to the mailbox's own message, judged not support at confidence ${confidence}: a person reads it rather than it being ignored`;
  if (isSupport && confidence < MIN_SUPPORT_CONFIDENCE) return `unsure: support at confidence ${confidence} (below ${MIN_SUPPORT_CONFIDENCE})`;
  if (!isSupport && confidence < MIN_IGNORE_CONFIDENCE)
    return `unsure: not support at confidence ${confidence} only (below ${MIN_IGNORE_CONFIDENCE}), so not ignored`;
  if (isSupport && !addressed) return 'the mailbox is only copied (not among the To addresses)';
  return undefined;
}

export function createClassifierHandler({ model }: ClassifierDependencies): Handler<ToClassifyMessage> {
  return async (message, context) => {
    const { email } = message;
    const started = Date.now();
    const { input, limited } = await classifierInput(email);
    if (cutDetail(limited).input_cut) context.logger.info('email cut for the model', cutDetail(limited));
    const result = await model.classify(input, { signal: context.signal });
    const addressed = email.to.length === 0 || email.to.some((address) => isOwnAddress(address, email.agent_email));
    const review_reason = reviewReason(result.value, addressed, answersTheMailbox(email));
    // The role's language, whatever the model says: one detector for every provider.
    const value = { ...result.value, language: input.language, ...(review_reason ? { review_reason } : {}) };
    const classification: Classification = { ...value, provider: result.provider, model: result.model };
    const common = {
      email_id: email.email_id,
      agent_email: email.agent_email,
      duration_ms: Date.now() - started,
      provider: result.provider,
      model: result.model,
    };
    // The event says what the model did not read, so a verdict on a cut email can be told apart.
    const detail = { ...value, usage: result.usage, ...cutDetail(limited) };
    if (!classification.is_support_inquiry && !review_reason) {
      await context.emit({ stage: 'ignored', ...common, detail });
      context.logger.info('not a support inquiry', { category: classification.category, confidence: classification.confidence, language: input.language });
      return { status: 'ignored' };
    }
    const next: ToRespondMessage = {
      ...message,
      message_id: randomUUID(),
      timestamp: new Date().toISOString(),
      original_message_id: message.message_id,
      classification,
    };
    await context.forward(toRespond, next, [{ stage: 'classified', ...common, detail }], { priority: email.priority });
    context.logger.info(review_reason ? 'classified for review' : 'classified as support', {
      category: classification.category,
      confidence: classification.confidence,
      language: input.language,
      review_reason,
    });
    return { status: 'classified' };
  };
}
