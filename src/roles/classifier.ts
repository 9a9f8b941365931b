/** classifier: asks the language model whether an email is a support inquiry. */
import { randomUUID } from 'node:crypto';
import type { Handler } from '../messaging/consumer.js';
import type { ToClassifyMessage, ToRespondMessage } from '../messaging/schemas.js';
import { EXCHANGES, ROUTING_KEYS } from '../messaging/topology.js';
import type { LanguageModel } from '../providers/llm/spec.js';
import { cutDetail, limitForModel } from '../rag/model-input.js';

export interface ClassifierDependencies {
  model: LanguageModel;
}

export function createClassifierHandler({ model }: ClassifierDependencies): Handler<ToClassifyMessage> {
  return async (message, context) => {
    const { email } = message;
    const started = Date.now();
    const input = limitForModel({ from: email.from, subject: email.subject, body: email.body });
    if (cutDetail(input).input_cut) context.logger.info('email cut for the model', cutDetail(input));
    const result = await model.classify(input.email, { signal: context.signal });
    const classification = { ...result.value, provider: result.provider, model: result.model };
    const common = { email_id: email.email_id, agent_email: email.agent_email, duration_ms: Date.now() - started, provider: result.provider, model: result.model };
    // The event says what the model did not read, so a verdict on a cut email can be told apart.
    const detail = { ...result.value, usage: result.usage, ...cutDetail(input) };
    if (!classification.is_support_inquiry) {
      await context.emit({ stage: 'ignored', ...common, detail });
      context.logger.info('not a support inquiry', { category: classification.category, confidence: classification.confidence });
      return { status: 'ignored' };
    }
    const next: ToRespondMessage = {
      ...message,
      message_id: randomUUID(),
      timestamp: new Date().toISOString(),
      original_message_id: message.message_id,
      classification,
    };
    await context.broker.publish(EXCHANGES.email, ROUTING_KEYS.respond, next, { priority: email.priority });
    await context.emit({ stage: 'classified', ...common, detail });
    context.logger.info('classified as support', { category: classification.category, confidence: classification.confidence });
    return { status: 'classified' };
  };
}
