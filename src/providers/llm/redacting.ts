/**
 * A language model whose emails are redacted (src/lib/redact.ts) before the wrapped model sees
 * them: what REDACT_BEFORE_LLM switches on for Gemini and Claude.
 */
import { redactSensitive } from '../../lib/redact.js';
import type { CallOptions, EmailText, LanguageModel, ReplyInput } from './spec.js';

/** Options of {@link createRedactingModel}. */
export interface RedactingModelOptions {
  /** Called with the counts whenever something was removed (for a debug log line or a metric). */
  onRedacted?: (findings: Record<string, number>, provider: string) => void;
}

/**
 * Wraps a language model so the email's subject and body are redacted before the model sees
 * them. Passages are not touched: they come from the mailbox owner's own manuals. Provider and
 * model names stay those of the wrapped model.
 */
export function createRedactingModel(model: LanguageModel, options: RedactingModelOptions = {}): LanguageModel {
  const redactEmail = (email: EmailText): EmailText => {
    const subject = redactSensitive(email.subject);
    const body = redactSensitive(email.body);
    const findings = { ...subject.findings };
    for (const [kind, count] of Object.entries(body.findings)) findings[kind] = (findings[kind] ?? 0) + count;
    if (Object.keys(findings).length > 0) options.onRedacted?.(findings, model.provider);
    return { ...email, subject: subject.text, body: body.text };
  };
  return {
    provider: model.provider,
    model: model.model,
    classify: (email: EmailText, callOptions?: CallOptions) => model.classify(redactEmail(email), callOptions),
    reply: (input: ReplyInput, callOptions?: CallOptions) => model.reply({ ...input, email: redactEmail(input.email) }, callOptions),
  };
}
