/**
 * The local model's classifier: transparent rule tables, no keys, no network, same input → same
 * output. The `reasoning` names every rule that fired.
 */
import type { nonSupportCategories, supportCategories } from '../../rag/prompt.js';
import type { EmailText } from './spec.js';

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

export function classifyByRules(email: EmailText) {
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

function sum(values: number[]): number {
  return values.reduce((total, value) => total + value, 0);
}
