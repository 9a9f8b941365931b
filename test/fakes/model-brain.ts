/**
 * The "brain" of the fake model servers: reads the prompt the way a model would (the fenced email,
 * the numbered passages) and answers with the deterministic local model, so the fakes answer like
 * a well-behaved model without any network. It sees only the prompt text, as a real model does.
 */
import type { ContextItem } from '../../src/pipeline/messages.js';
import { createLocalModel } from '../../src/providers/llm/local.js';
import { citationLabel } from '../../src/providers/llm/citations.js';
import type { EmailText } from '../../src/providers/llm/spec.js';

const localModel = createLocalModel({ name: 'fake-brain' });

/** The email inside its per-prompt fence `<untrusted_email_1a2b3c4d>` (src/providers/llm/prompt.ts). */
const FENCED_EMAIL = /<(untrusted_email_[0-9a-f]{8})>\nFrom: (.*)\nSubject: (.*)\n\n([\s\S]*?)\n<\/\1>/;
const FENCE_OPEN = /<untrusted_email_[0-9a-f]{8}>/;
const PASSAGE_HEADER = /^\[(\d+)\] "(.+)", page (\d+)(?: \(section .*\))?$/;

/** Answers a prompt: classification JSON, or reply JSON whose text cites the numbered passages as `[n]`. */
export async function answerPrompt(userText: string): Promise<string> {
  const email = readFencedEmail(userText);
  if (!email) return 'I could not find an email to work on.';
  if (/classify this email/i.test(userText)) {
    const { value } = await localModel.classify(email);
    return JSON.stringify(value);
  }
  const passages = readPassages(userText);
  const language = /\(language code ([a-z]{2,3})\)/.exec(userText)?.[1];
  const signature = /then this signature on lines of its own, exactly:\n([\s\S]*?)\n\nWrite the reply now/.exec(userText)?.[1];
  const { value } = await localModel.reply({ email, passages, language, signature });
  const reply = citingByNumber(value.body, passages);
  const cited = [...new Set([...reply.matchAll(/\[(\d+)\]/g)].map((match) => Number(match[1])))];
  const verdict = value.verdict ?? { answerable: cited.length > 0, confidence: cited.length > 0 ? 0.8 : 0.2, cited };
  return JSON.stringify({ reply, ...verdict });
}

/**
 * The local model's reply as a remote model writes it: `[n]` after each statement, no list of
 * sources (the responder adds one).
 */
function citingByNumber(body: string, passages: ContextItem[]): string {
  let text = body;
  passages.forEach((passage, index) => {
    const label = citationLabel(passage).replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    text = text.replace(new RegExp(`\\(${label}\\)|${label}`, 'g'), `[${index + 1}]`);
  });
  const paragraphs = text.split(/\n\s*\n/);
  // "Source: [1]" under a quoted block becomes "[1]" after each line of the block.
  return paragraphs
    .map((paragraph, index) => {
      const markers = /^[^\s\d[]+:?\s*((?:\[\d+\]\s*)+)$/.exec(paragraphs[index + 1]?.trim() ?? '')?.[1]?.trim();
      return markers
        ? paragraph
            .split('\n')
            .map((line) => `${line} ${markers}`)
            .join('\n')
        : paragraph;
    })
    .filter((paragraph) => !/^[^\s\d[]+:?\s*(\[\d+\]\s*)+$/.test(paragraph.trim()) && !/^sources:/i.test(paragraph.trim()))
    .join('\n\n');
}

/** Token count as the fakes report it: one token per word, at least one. */
export function countTokens(text: string): number {
  return Math.max(1, text.split(/\s+/).filter(Boolean).length);
}

function readFencedEmail(text: string): EmailText | undefined {
  const match = FENCED_EMAIL.exec(text);
  return match ? { from: match[2], subject: match[3], body: match[4] } : undefined;
}

function readPassages(text: string): ContextItem[] {
  const start = text.indexOf('Documentation passages');
  const end = text.search(FENCE_OPEN);
  if (start < 0 || end < start) return [];
  const passages: ContextItem[] = [];
  for (const line of text.slice(start, end).split('\n')) {
    const header = PASSAGE_HEADER.exec(line);
    if (header) {
      passages.push({
        document_id: header[2],
        // The header names the document by its title, or its file name when it has none.
        source: header[2],
        page: Number(header[3]),
        chunk_index: Number(header[1]),
        similarity_score: 1 / Number(header[1]),
        text: '',
      });
    } else if (passages.length > 0 && !/^The email to answer:/.test(line)) {
      const last = passages[passages.length - 1];
      last.text = `${last.text}\n${line}`.trim();
    }
  }
  return passages;
}
