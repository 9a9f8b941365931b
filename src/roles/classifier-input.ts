/**
 * What the classifier role hands a model for one email: the text, cut as every model reads it, the
 * language, and whether it answers an earlier message. The training script builds its examples with
 * the same function, so the model is trained on exactly what the worker will show it.
 */
import type { Email } from '../pipeline/messages.js';
import type { ClassifyInput } from '../providers/llm/spec.js';
import { limitForModel, type ModelInput } from '../rag/model-input.js';
import { freshText } from '../classify/fresh-text.js';
import { detectLanguage } from '../text/language.js';

export interface ClassifierInput {
  input: ClassifyInput;
  /** What the model did not read, for the event. */
  limited: ModelInput;
}

export async function classifierInput(email: Email): Promise<ClassifierInput> {
  const limited = limitForModel({ from: email.from, subject: email.subject, body: email.body });
  // The language of what the sender wrote, not of the history or the list footer it quotes.
  const language = await detectLanguage(`${email.subject}\n${freshText(limited.email.body).text}`);
  const isReply = email.references.length > 0;
  return { input: { ...limited.email, language, is_reply: isReply }, limited };
}
