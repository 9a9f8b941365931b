/**
 * Redaction of payment cards and credentials from text that leaves this system: before an email
 * goes to an outside language model (REDACT_BEFORE_LLM), and in every log line (src/lib/log.ts).
 * Patterns are checked, not just matched (Luhn for cards, mod 97 for IBANs), so order numbers,
 * phone numbers and tracking codes survive and the model still sees the customer's question.
 * The text is a sender's: every pattern runs in linear time (no start position rescans what an
 * earlier one scanned), so a crafted body of hundreds of kilobytes costs milliseconds.
 */
/** Redacted text and how many of each kind were removed (never the values themselves). */
export interface RedactionResult {
  text: string;
  /** Count per kind: `card_number`, `iban`, `private_key`, `api_key`, `password`, `secret`. */
  findings: Record<string, number>;
}

/** The placeholder each kind is replaced with; it tells the model something was there. */
export const PLACEHOLDERS = {
  card_number: '[card number removed]',
  iban: '[IBAN removed]',
  private_key: '[private key removed]',
  api_key: '[API key removed]',
  password: '[password removed]',
  secret: '[secret removed]',
} as const;

type Kind = keyof typeof PLACEHOLDERS;

interface Rule {
  kind: Kind;
  pattern: RegExp;
  /** Replacement for one match, or null to keep it (a failed checksum). */
  replace(match: string, ...groups: string[]): string | null;
}

const whole = (kind: Kind) => () => PLACEHOLDERS[kind];

/** Well-known key and token formats, recognisable without a label. */
const TOKEN_FORMATS = [
  /\bsk-(?:ant-|proj-)?[A-Za-z0-9_-]{20,}/, // OpenAI, Anthropic
  /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/, // AWS access key id
  /\bgh[pousr]_[A-Za-z0-9]{30,}\b/, // GitHub tokens
  /\bgithub_pat_[A-Za-z0-9_]{22,}\b/,
  /\bAIza[0-9A-Za-z_-]{35}\b/, // Google API key
  /\bxox[abposr]-[A-Za-z0-9-]{10,}\b/, // Slack
  /\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}\b/, // Stripe secret and restricted keys
  // JSON Web Token. It starts where a run of token characters starts, not at any `eyJ` after a dash:
  // otherwise each `eyJ` of `eyJ-eyJ-eyJ-…` would scan the rest of the run again (quadratic).
  /(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/,
]
  .map((pattern) => pattern.source)
  .join('|');

/** Order matters: labelled secrets and keys first, so their digits are not taken for cards. */
const RULES: Rule[] = [
  {
    kind: 'private_key',
    // The key's body holds no `-----`, so a BEGIN without an END stops at the next BEGIN instead of
    // scanning to the end of the text from every BEGIN (quadratic on a text of BEGIN lines).
    pattern: /-----BEGIN [A-Z ]*PRIVATE KEY-----(?:[^-]|-(?!----))*-----END [A-Z ]*PRIVATE KEY-----/g,
    replace: whole('private_key'),
  },
  {
    // `password: xyz`, `pwd = xyz`: the label stays, so the model knows a password was mentioned.
    kind: 'password',
    pattern: /\b((?:pass(?:word|wd|phrase|code)?|pwd|kennwort|mot de passe)[ \t]*[:=][ \t]*)("[^"\n]*"|'[^'\n]*'|[^\s"',;]+)/gi,
    replace: (_match, label) => `${label}${PLACEHOLDERS.password}`,
  },
  {
    kind: 'secret',
    pattern:
      /\b((?:api[_ -]?key|access[_ -]?key|secret(?:[_ -]?key)?|client[_ -]?secret|(?:access|auth|refresh|bearer)?[_ -]?token)[ \t]*[:=][ \t]*)("[^"\n]{8,}"|'[^'\n]{8,}'|[^\s"',;]{8,})/gi,
    replace: (_match, label) => `${label}${PLACEHOLDERS.secret}`,
  },
  {
    kind: 'secret',
    pattern: /\b(Bearer\s+)[A-Za-z0-9._~+/-]{16,}=*/g,
    replace: (_match, label) => `${label}${PLACEHOLDERS.secret}`,
  },
  { kind: 'api_key', pattern: new RegExp(TOKEN_FORMATS, 'g'), replace: whole('api_key') },
  {
    // Country code, check digits, then 11 to 30 letters or digits, optionally in groups of four.
    kind: 'iban',
    pattern: /\b[A-Z]{2}\d{2}(?:(?: [A-Z0-9]{4}){2,7}(?: [A-Z0-9]{1,4})?|[A-Z0-9]{11,30})\b/g,
    replace: (match) => replaceValidPrefix(match, isValidIban, PLACEHOLDERS.iban),
  },
  {
    // 13 to 19 digits, single spaces or dashes allowed between them; issuers start with 2-6.
    kind: 'card_number',
    pattern: /(?<![\d-])[2-6](?:[ -]?\d){12,18}(?![\d-])/g,
    // No shorter prefix is tried: each try is another 1 in 10 chance to hit an order number.
    replace: (match) => (passesLuhn(match.replace(/\D/g, '')) ? PLACEHOLDERS.card_number : null),
  },
];

/** Replaces card numbers, IBANs, keys, tokens and passwords in `text` with placeholders. */
export function redactSensitive(text: string): RedactionResult {
  const findings: Record<string, number> = {};
  let result = text;
  for (const rule of RULES) {
    result = result.replace(rule.pattern, (match: string, ...groups: unknown[]) => {
      const replacement = rule.replace(match, ...groups.filter((group): group is string => typeof group === 'string'));
      if (replacement === null) return match;
      findings[rule.kind] = (findings[rule.kind] ?? 0) + 1;
      return replacement;
    });
  }
  return { text: result, findings };
}

/**
 * The placeholder for the longest prefix of `match` (cut at a space or dash) that passes `check`,
 * followed by the rest; null when none does. An IBAN followed by a reference in capitals is
 * still found.
 */
function replaceValidPrefix(match: string, check: (candidate: string) => boolean, placeholder: string): string | null {
  for (let end = match.length; end > 0; end = match.slice(0, end).search(/[ -][^ -]*$/)) {
    if (check(match.slice(0, end))) return placeholder + match.slice(end);
  }
  return null;
}

/** The Luhn checksum of card numbers: a typo, or an order number, fails it 9 times in 10. */
export function passesLuhn(digits: string): boolean {
  let sum = 0;
  for (let index = 0; index < digits.length; index += 1) {
    let digit = Number(digits[digits.length - 1 - index]);
    if (index % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** ISO 13616 check: country and check digits moved to the end, letters as numbers, mod 97 is 1. */
export function isValidIban(candidate: string): boolean {
  const compact = candidate.replace(/ /g, '').toUpperCase();
  if (compact.length < 15 || compact.length > 34) return false;
  const rearranged = compact.slice(4) + compact.slice(0, 4);
  let remainder = 0;
  for (const character of rearranged) {
    const value = /\d/.test(character) ? character : String(character.charCodeAt(0) - 55);
    for (const digit of value) remainder = (remainder * 10 + Number(digit)) % 97;
  }
  return remainder === 1;
}

/**
 * `JSON.parse` errors quote the start of their input (`Unexpected token 'h', "hello ..." is not
 * valid JSON`); this keeps the reason and drops the quote, so a log line carries no body text.
 */
export function withoutQuotedInput(message: string): string {
  // Index arithmetic rather than one pattern: `"[\s\S]*"` would retry from every quote mark.
  const reason = message.search(/(?<!\s)\s+is not valid JSON/);
  const quoteEnd = message.startsWith('"...', reason - 4) ? reason - 4 : reason - 1;
  const quoteStart = message.indexOf('"');
  if (reason < 0 || message[quoteEnd] !== '"' || quoteStart < 0 || quoteStart >= quoteEnd) return message;
  return `${message.slice(0, quoteStart)}(input not shown)${message.slice(reason)}`;
}
