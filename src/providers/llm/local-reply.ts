/**
 * The local model's reply: the customer greeted by name, the passage that answers quoted as a
 * block (its code lines one per line, indented, so a customer can copy them) with its page cited
 * (and linked when the mailbox publishes its manuals), a closing and the mailbox's signature, all
 * in the customer's language. Nothing in it comes from the email but the sender's display name,
 * checked to be a name, so instructions hidden in an email go nowhere.
 */
import { chunkLines, CODE_INDENT } from '../../text/code-lines.js';
import { citationLabel } from './citations.js';
import { findAnswer } from './local-answer.js';
import { handoffBody, senderName, signOff } from './reply-framing.js';
import { phrasesFor } from './reply-phrases.js';
import type { GeneratedReply, ReplyInput } from './spec.js';

/**
 * The quote as plain-text email shows it: sentences as `> ` lines, the code lines among them as
 * indented lines with a blank line before and after each block, which any mail client shows as
 * they are and a customer can copy.
 */
function quote(sentences: string[]): string {
  const blocks: Array<{ code: boolean; lines: string[] }> = [];
  for (const sentence of sentences) {
    // A sentence's text after its code lines goes on, after the block, on a quoted line of its own.
    for (const line of chunkLines(sentence)) {
      const last = blocks.at(-1);
      const text = line.code ? `${CODE_INDENT}${line.text}` : `> ${line.text}`;
      if (last?.code === line.code) last.lines.push(text);
      else blocks.push({ code: line.code, lines: [text] });
    }
  }
  return blocks.map((block) => block.lines.join('\n')).join('\n\n');
}

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
    quote(answer.sentences),
    sources.map((source) => `${phrases.source} ${source}`).join('\n'),
    phrases.closing,
    signOff(phrases, input.signature),
  ].join('\n\n');
  return { body, verdict: { answerable: true, confidence: answer.confidence, cited: answer.cited } };
}
