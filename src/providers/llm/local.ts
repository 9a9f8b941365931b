/**
 * The embedded language model: no keys, no network, same input → same output. It classifies with
 * the transparent rule tables below and replies by quoting the retrieved passages, so it can never
 * say anything the documentation does not say, nor obey instructions hidden in an email.
 */
import type { ContextItem } from '../../messaging/schemas.js';
import type { nonSupportCategories, supportCategories } from '../../rag/prompt.js';
import type { CallOptions, EmailText, LanguageModel, ModelResult, ReplyInput, TokenUsage } from './spec.js';

/** A signal the classifier looks for; `weight` is how many plain signals it is worth. */
interface Rule {
  name: string;
  pattern: RegExp;
  weight: number;
  /** For support rules: the category the signal points to; absent when it says nothing about one. */
  category?: (typeof supportCategories)[number];
}

/** A signal that the email is not a support inquiry, with the category it points to. */
interface NonSupportRule extends Omit<Rule, 'category'> {
  category: (typeof nonSupportCategories)[number];
  /** Where to look: the sender address or the subject and body. */
  field?: 'from' | 'text';
}

const QUESTION_RULES: Rule[] = [
  { name: 'question mark', pattern: /\?/, weight: 1 },
  { name: 'how do/can I', pattern: /\bhow (do|can|should|would) (i|we)\b/i, weight: 1 },
  { name: 'can/could you', pattern: /\b(can|could) you\b/i, weight: 1 },
  { name: 'where', pattern: /\bwhere\b/i, weight: 1 },
  { name: 'why', pattern: /\bwhy\b/i, weight: 1 },
  { name: 'is it possible', pattern: /\bis it possible\b/i, weight: 1 },
];

const PROBLEM_RULES: Rule[] = [
  { name: 'not working', pattern: /\b(not|isn['’]t|doesn['’]t|stopped) work(ing|s)?\b/i, weight: 1, category: 'technical' },
  { name: 'error', pattern: /\berrors?\b/i, weight: 1, category: 'technical' },
  { name: 'broken', pattern: /\bbroken\b/i, weight: 1, category: 'technical' },
  { name: 'fails', pattern: /\bfail(s|ed|ing|ure)?\b/i, weight: 1, category: 'technical' },
  { name: 'firmware', pattern: /\bfirmware\b/i, weight: 1, category: 'technical' },
  { name: 'update', pattern: /\b(update|upgrade)s?\b/i, weight: 1, category: 'technical' },
  // Upper case only: "led" is also the past tense of "lead".
  { name: 'LED', pattern: /\bLEDs?\b/, weight: 1, category: 'technical' },
  { name: 'down', pattern: /\bdown\b/i, weight: 1, category: 'technical' },
  { name: 'outage', pattern: /\boutages?\b/i, weight: 1, category: 'technical' },
  { name: 'install', pattern: /\binstall(ed|ing|ation)?\b/i, weight: 1, category: 'technical' },
  { name: 'battery', pattern: /\batter(y|ies)\b/i, weight: 1, category: 'technical' },
  { name: 'connection', pattern: /\b(connect(ion|ed|ing)?|wi-?fi|internet)\b/i, weight: 1, category: 'technical' },
  { name: 'password', pattern: /\bpasswords?\b/i, weight: 1, category: 'account' },
  { name: 'reset', pattern: /\breset(ting)?\b/i, weight: 1, category: 'account' },
  { name: 'login', pattern: /\b(log ?in|sign ?in|locked out|username|two-factor|2fa)\b/i, weight: 1, category: 'account' },
  { name: 'account', pattern: /\baccounts?\b/i, weight: 1, category: 'account' },
  { name: 'refund', pattern: /\brefund(s|ed)?\b/i, weight: 1, category: 'billing' },
  { name: 'invoice', pattern: /\b(invoices?|receipts?)\b/i, weight: 1, category: 'billing' },
  { name: 'billing', pattern: /\b(billing|billed|charged?|payments?)\b/i, weight: 1, category: 'billing' },
  { name: 'cancel', pattern: /\bcancel(l?ed|l?ing|lation)?\b/i, weight: 1, category: 'billing' },
  { name: 'subscription', pattern: /\bsubscription\b/i, weight: 1, category: 'billing' },
  { name: 'warranty', pattern: /\b(warranty|guarantee period|repair|return)\b/i, weight: 1, category: 'general' },
  { name: 'cannot', pattern: /\b(can['’]t|cannot|unable to|won['’]t)\b/i, weight: 1 },
  { name: 'issue', pattern: /\b(issues?|problems?|trouble)\b/i, weight: 1 },
  { name: 'help', pattern: /\bhelp\b/i, weight: 1 },
];

const NOT_SUPPORT_RULES: NonSupportRule[] = [
  // "won" but not "won't".
  { name: 'won', pattern: /\b(won|winner|congratulations)\b(?!['’])/i, weight: 1, category: 'spam' },
  { name: 'prize', pattern: /\b(prize|lottery|jackpot)\b/i, weight: 1, category: 'spam' },
  { name: 'claim now', pattern: /\b(claim (now|your)|click here|act now)\b/i, weight: 1, category: 'spam' },
  { name: 'million dollars', pattern: /\$\s?\d{1,3}(,\d{3}){2,}|\$\s?[\d.,]+\s*million|\bmillion dollars\b/i, weight: 2, category: 'spam' },
  { name: 'crypto', pattern: /\b(crypto(currency)?|bitcoin|btc|ethereum)\b/i, weight: 1, category: 'spam' },
  { name: 'viagra', pattern: /\b(viagra|cialis)\b/i, weight: 2, category: 'spam' },
  { name: 'newsletter', pattern: /\bnewsletter\b/i, weight: 1, category: 'marketing' },
  { name: 'webinar', pattern: /\bwebinars?\b/i, weight: 1, category: 'marketing' },
  // One digit is enough to know the rule fires; `\d+` would rescan a long digit run from every digit.
  { name: 'percent off', pattern: /\d\s?% off\b/i, weight: 1, category: 'marketing' },
  { name: 'sale', pattern: /\b(sale|promo code|special offer|limited time)\b/i, weight: 1, category: 'marketing' },
  { name: 'unsubscribe', pattern: /\bunsubscribe\b/i, weight: 1, category: 'marketing' },
  { name: 'automated sender', pattern: /\b(no-?reply|do-?not-?reply|mailer-daemon|postmaster)\b/i, weight: 3, category: 'automated', field: 'from' },
  { name: 'delivery failure', pattern: /\b(undeliverable|delivery status notification)\b/i, weight: 3, category: 'automated' },
  { name: 'out of office', pattern: /\b(out of (the )?office|on (annual )?leave|on vacation|currently away)\b/i, weight: 2, category: 'automated' },
  { name: 'auto reply', pattern: /\b(auto(matic)?[- ]?reply|auto-?generated)\b/i, weight: 2, category: 'automated' },
  { name: 'problem solved', pattern: /\b(that|this|it) (fixed|solved|worked)\b|\bworks now\b/i, weight: 1, category: 'other' },
];

const REPLY_SUBJECT = /^\s*(re|aw|sv|antw)\s*:/i;
const SUPPORT_CATEGORY_ORDER = ['technical', 'billing', 'account', 'general'] as const;
const NON_SUPPORT_CATEGORY_ORDER = ['automated', 'spam', 'marketing', 'other'] as const;

/** Words that carry no topic, left out when matching passages to an email. */
const STOPWORDS = new Set(
  ('a an and are as at be been but by can could do does did for from had has have hello hi how i if in into is it its ' +
    'me my no not of on or our please so that the their them then there these they this to too us was we were what when ' +
    'where which who why will with would you your yours thanks thank regards dear hey am any just get got also about ' +
    // Verbs too common to tie a sentence to a question on their own.
    'take use need want know like make go see tell let try should one some all')
    .split(' '),
);

/** The reply when the documentation has nothing to quote (DESIGN.md §7: hand off, never invent). */
const HANDOFF_REPLY =
  'Hello,\n\nThank you for your message. We could not find the answer in our product documentation, ' +
  'so a member of our support team will get back to you.\n\nThis message was sent automatically.';

const MAX_QUOTED_SENTENCES = 4;
const MAX_PASSAGES_READ = 3;
/** Long enough for a documentation sentence; PDF text without full stops is cut here. */
const MAX_QUOTE_CHARACTERS = 320;

/** Options of {@link createLocalModel}. */
export interface LocalModelOptions {
  /** Model name reported in results and events. Default `local-rules-v1`. */
  name?: string;
}

/** Creates the deterministic local model (provider `local`). */
export function createLocalModel(options: LocalModelOptions = {}): LanguageModel {
  const provider = 'local';
  const model = options.name ?? 'local-rules-v1';
  const result = <T>(value: T, usage: TokenUsage, startedAt: number): ModelResult<T> =>
    ({ value, provider, model, usage, latency_ms: performance.now() - startedAt });
  return {
    provider,
    model,
    async classify(email: EmailText, callOptions?: CallOptions) {
      callOptions?.signal?.throwIfAborted();
      const startedAt = performance.now();
      const value = classifyByRules(email);
      const usage = { input_tokens: countWords(`${email.from} ${email.subject} ${email.body}`), output_tokens: countWords(value.reasoning) };
      return result(value, usage, startedAt);
    },
    async reply(input: ReplyInput, callOptions?: CallOptions) {
      callOptions?.signal?.throwIfAborted();
      const startedAt = performance.now();
      const body = extractiveReply(input);
      const inputText = [input.email.subject, input.email.body, ...input.passages.map((passage) => passage.text)].join(' ');
      return result({ body }, { input_tokens: countWords(inputText), output_tokens: countWords(body) }, startedAt);
    },
  };
}

function classifyByRules(email: EmailText) {
  // A reply's subject repeats the topic of the earlier message ("Re: Router password reset" on a
  // thank-you note), so only a fresh subject counts as evidence.
  const subject = REPLY_SUBJECT.test(email.subject) ? '' : email.subject;
  const text = `${subject}\n${email.body}`;
  const supportFired = [...QUESTION_RULES, ...PROBLEM_RULES].filter((rule) => rule.pattern.test(text));
  const notSupportFired = NOT_SUPPORT_RULES.filter((rule) => rule.pattern.test(rule.field === 'from' ? email.from : text));
  const supportScore = sum(supportFired.map((rule) => rule.weight));
  const notSupportScore = sum(notSupportFired.map((rule) => rule.weight));
  const net = supportScore - notSupportScore;
  const isSupport = net > 0;
  const category = isSupport
    ? strongestCategory(supportFired, SUPPORT_CATEGORY_ORDER, 'general')
    : strongestCategory(notSupportFired, NON_SUPPORT_CATEGORY_ORDER, 'other');
  // 0.5 with no margin, rising 0.1 per net signal; a single signal stays below 0.6 (weak evidence).
  const confidence = net === 0 ? 0.5 : Math.min(0.95, 0.45 + 0.1 * Math.abs(net));
  const names = (rules: Array<{ name: string }>) => (rules.length ? rules.map((rule) => rule.name).join(', ') : 'none');
  const reasoning =
    `support signals (${supportScore}): ${names(supportFired)}; ` +
    `non-support signals (${notSupportScore}): ${names(notSupportFired)}; ` +
    `${isSupport ? 'support' : 'not support'} (${category}) by a margin of ${net}`;
  return { is_support_inquiry: isSupport, category, confidence: Math.round(confidence * 100) / 100, reasoning };
}

/** The category with the most weight among the fired rules; ties go to the earlier one in `order`. */
function strongestCategory<C extends string>(fired: Array<{ category?: string; weight: number }>, order: readonly C[], fallback: C): C {
  let best: C = fallback;
  let bestWeight = 0;
  for (const category of order) {
    const weight = sum(fired.filter((rule) => rule.category === category).map((rule) => rule.weight));
    if (weight > bestWeight) {
      best = category;
      bestWeight = weight;
    }
  }
  return best;
}

function extractiveReply({ email, passages }: ReplyInput): string {
  const emailWords = new Set(contentWords(`${email.subject} ${email.body}`));
  const candidates = passages.slice(0, MAX_PASSAGES_READ).flatMap((passage, passageRank) =>
    splitSentences(passage.text).map((text, position) => ({ text, passage, passageRank, position, words: new Set(contentWords(text)) })),
  );
  // Words shared with the question weigh more the fewer sentences hold them (inverse document
  // frequency), so "firmware" decides the match and "router", present everywhere, barely counts.
  const sentencesWith = new Map<string, number>();
  for (const word of candidates.flatMap((sentence) => [...sentence.words])) sentencesWith.set(word, (sentencesWith.get(word) ?? 0) + 1);
  const weight = (word: string) => Math.log(1 + candidates.length / (sentencesWith.get(word) ?? 1));
  const scored = candidates.map((sentence) => {
    const shared = [...sentence.words].filter((word) => emailWords.has(word)).sort();
    return { ...sentence, score: Math.round(sum(shared.map(weight)) * 1e6) / 1e6 };
  });
  // Quote only sentences more than half as close to the question as the closest one.
  const bestScore = Math.max(0, ...scored.map((sentence) => sentence.score));
  const chosen = scored
    .filter((sentence) => sentence.score > 0 && sentence.score * 2 > bestScore)
    // On a tie the fuller sentence wins over a heading that merely repeats the question's words.
    .sort((a, b) => b.score - a.score || a.passageRank - b.passageRank || b.words.size - a.words.size || a.position - b.position)
    .slice(0, MAX_QUOTED_SENTENCES);
  // Nothing in the passages touches the question: hand off rather than quote something unrelated.
  if (chosen.length === 0) return HANDOFF_REPLY;
  const citation = (passage: ContextItem) => `"${passage.source}", page ${passage.page}`;
  const sources = [...new Set(chosen.map((sentence) => citation(sentence.passage)))];
  return [
    'Hello,',
    '',
    'Here is what our product documentation says about your question:',
    '',
    ...chosen.map((sentence) => `- "${sentence.text}" (${citation(sentence.passage)})`),
    '',
    'Sources:',
    ...sources.map((source) => `- ${source}`),
    '',
    'This reply was prepared automatically from our product documentation. If it does not answer your question, ' +
      'reply to this email and a member of our support team will help you.',
  ].join('\n');
}

function splitSentences(text: string): string[] {
  return text
    .replace(/\s+/g, ' ')
    .split(/(?<=[.!?])\s+(?=[A-Z0-9"“(])/)
    .map((sentence) => sentence.trim())
    .filter((sentence) => /[a-z]{2}/i.test(sentence))
    .map((sentence) => {
      if (sentence.length <= MAX_QUOTE_CHARACTERS) return sentence;
      const cut = sentence.slice(0, MAX_QUOTE_CHARACTERS);
      return `${cut.slice(0, Math.max(cut.lastIndexOf(' '), 1))}…`;
    });
}

/** Lower-cased words without stopwords, with plural and verb endings trimmed so "resetting" meets "reset". */
function contentWords(text: string): string[] {
  return (text.toLowerCase().match(/[a-z0-9]+/g) ?? []).filter((word) => !STOPWORDS.has(word) && word.length > 1).map(stem);
}

/** Trims plural and verb endings: "updates", "updating" and "update" all become "updat". */
function stem(word: string): string {
  let root = word.length > 3 && word.endsWith('s') && !word.endsWith('ss') ? word.slice(0, -1) : word;
  const ending = ['ing', 'ed'].find((suffix) => root.endsWith(suffix) && root.length - suffix.length >= 3);
  if (ending) root = root.slice(0, -ending.length);
  if (root.length > 3 && root.endsWith('e')) root = root.slice(0, -1);
  // "resetting" → "resett" → "reset", and "installed" meets "install".
  return root.length > 3 && root.at(-1) === root.at(-2) ? root.slice(0, -1) : root;
}

function countWords(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
