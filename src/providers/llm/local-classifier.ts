/**
 * The local model's classifier: a logistic regression over words and structure, trained by
 * `npm run train:classifier` on the labelled corpus in eval/classify/ and shipped as
 * classifier-model.json. No keys, no network, same input → same output. The verdict is support when
 * the calibrated P(support) reaches the model's `support_threshold`; its confidence is the calibrated
 * probability that the verdict given is right: P(support) for support, 1 − P(support) otherwise (so
 * below 0.5 for "not support" when P(support) lies between 0.5 and the threshold, which the
 * classifier role then sends for review). The `reasoning` names the features that decided.
 */
import { readFileSync } from 'node:fs';
import type { nonSupportCategories, supportCategories } from './prompt.js';
import { featuresOf, isStructural } from '../../classify/features.js';
import { UNDETERMINED_LANGUAGE } from '../../text/language.js';
import { probability, score, type LogisticModel } from '../../classify/logistic.js';
import type { ClassifyInput } from './spec.js';

/** The committed model: weights, calibration, and what it was trained on. */
export interface SupportModel extends LogisticModel {
  /** Name of this training run, reported in the reasoning. */
  version: string;
  /** ISO 639-1 codes of the languages it saw enough labelled emails of to judge. */
  languages: string[];
  /**
   * P(support) from which the verdict is support: the smallest whose precision reached the target
   * in 5-fold cross-validation over train and calibration (scripts/classifier-fit.ts).
   */
  support_threshold: number;
}

export const supportModel: SupportModel = JSON.parse(readFileSync(new URL('./classifier-model.json', import.meta.url), 'utf8'));

const MAX_CONFIDENCE = 0.99;
/** How many features the reasoning names on each side. */
const NAMED_FEATURES = 4;

type SupportCategory = (typeof supportCategories)[number];
type NonSupportCategory = (typeof nonSupportCategories)[number];

/** Words that name a support category; they only name it, the model decides whether it is support. */
const CATEGORY_WORDS: Array<[SupportCategory, RegExp]> = [
  [
    'billing',
    /refund|invoice|charged|payment|billing|subscription|receipt|vat\b|rembours|factur|prélève|abonnement|rechnung|erstatt|abo\b|kündig|reembols|factura|cobr|suscripci|rimbors|fattura|addebit|abbonamento|disdi|reembolso|fatura|cobrança|assinatura|請求|返金|領収書|解約/i,
  ],
  [
    'technical',
    /error|fail|crash|not working|internet|outage|\bdown\b|doesn'?t work|won'?t|broken|firmware|update|install|connect|wi-?fi|sync|erreur|panne|plante|fehler|verbindung|funktioniert nicht|no funciona|se reinicia|errore|non funziona|erro\b|não funciona|エラー|接続|起動|不具合/i,
  ],
  [
    'account',
    /password|log ?in|sign ?in|locked|account|two-factor|2fa|mot de passe|connecter|compte|passwort|konto|anmeld|contraseña|iniciar sesión|cuenta|accedere|senha|conta|パスワード|ログイン|アカウント/i,
  ],
];

/** The classification of one email by the committed model (or `model`, when training tries one). */
export function classifyLocally(email: ClassifyInput, model: SupportModel = supportModel) {
  const features = featuresOf(email);
  const { score: raw, contributions } = score(model, features);
  const supportProbability = probability(model, raw);
  const isSupport = supportProbability >= model.support_threshold;
  // Two decimals, at most 0.99: no model is certain.
  const confidence = Math.min(MAX_CONFIDENCE, Math.round((isSupport ? supportProbability : 1 - supportProbability) * 100) / 100);
  const review_reason = languageProblem(email.language, model);
  const category = isSupport ? supportCategory(`${email.subject}\n${email.body.slice(0, 6_000)}`) : otherCategory(features);
  const reasoning =
    `${model.version}: ${isSupport ? 'support' : 'not support'} (${category}), P(support) ${supportProbability.toFixed(2)}; ` +
    `for support: ${named(contributions, 1)}; against: ${named(contributions, -1)}` +
    (review_reason ? `; ${review_reason}` : '');
  return { is_support_inquiry: isSupport, category, confidence, reasoning, ...(review_reason ? { review_reason } : {}) };
}

/** Why the model cannot judge an email in `language`, or undefined when it can (or the role did not say). */
function languageProblem(language: string | undefined, model: SupportModel): string | undefined {
  if (language === undefined || model.languages.includes(language)) return undefined;
  if (language === UNDETERMINED_LANGUAGE) return 'language could not be told: the local model cannot judge the email';
  return `language ${language}: the local model cannot judge it`;
}

/** The strongest features pulling one way (`sign` 1: towards support), with their shares of the score. */
function named(contributions: Array<[string, number]>, sign: 1 | -1): string {
  const strongest = contributions
    .filter(([, share]) => share * sign > 0)
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]) || a[0].localeCompare(b[0]))
    .slice(0, NAMED_FEATURES);
  if (strongest.length === 0) return 'nothing';
  return strongest.map(([feature, share]) => `${isStructural(feature) ? feature : `"${feature}"`} ${share > 0 ? '+' : ''}${share.toFixed(2)}`).join(', ');
}

function supportCategory(text: string): SupportCategory {
  return CATEGORY_WORDS.find(([, pattern]) => pattern.test(text))?.[0] ?? 'general';
}

/** Marketing when it carries an opt-out footer or many links, other for replies, spam for the rest. */
function otherCategory(features: string[]): NonSupportCategory {
  const has = (feature: string) => features.includes(feature);
  if (has('[opt-out footer]') || has('[10+ links]')) return 'marketing';
  if (has('[reply]') || has('[quotes earlier mail]')) return 'other';
  return has('[money amount]') || has('[3+ exclamation marks]') || has('[subject in capitals]') ? 'spam' : 'other';
}
