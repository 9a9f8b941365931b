/**
 * The local model's reply: the customer greeted by name, the passage that answers quoted as a
 * block with its page cited (and linked when the mailbox publishes its manuals), a closing and
 * the mailbox's signature, all in the customer's language. Nothing in it comes from the email but
 * the sender's display name, checked to be a name, so instructions hidden in an email go nowhere.
 */
import { citationLabel } from './citations.js';
import { findAnswer } from './local-answer.js';
import { handoffBody, senderName, signOff } from './reply-framing.js';
import { phrasesFor } from './reply-phrases.js';
import type { GeneratedReply, ReplyInput } from './spec.js';

/** The reply to `input`: a quoted answer, or a hand-off to a person when the passages hold none. */
export function composeLocalReply(input: ReplyInput): GeneratedReply {
  const name = senderName(input.email.from);
  const phrases = phrasesFor(input.language);
  const answer = phrases && findAnswer(input.email, input.passages, name ? [name.full] : []);
  if (!phrases || !answer) {
    // No phrases for the language: a person answers, in English, the one language we can still write.
    return { body: handoffBody(input.email, input.language, input.signature), verdict: { answerable: false, confidence: 0, cited: [] } };
  }
  const sources = [
    ...new Set(
      answer.cited.map((number) => {
        const passage = input.passages[number - 1];
        return passage.url ? `${citationLabel(passage)}: ${passage.url}` : citationLabel(passage);
      }),
    ),
  ];
  const body = [
    phrases.greeting(name),
    phrases.introduction,
    answer.sentences.map((sentence) => `> ${sentence}`).join('\n'),
    sources.map((source) => `${phrases.source} ${source}`).join('\n'),
    phrases.closing,
    signOff(phrases, input.signature),
  ].join('\n\n');
  return { body, verdict: { answerable: true, confidence: answer.confidence, cited: answer.cited } };
}
