/**
 * The send policy of each mailbox and what a reply is decided and written from: the send modes,
 * the decision thresholds (AUTO_SEND_*), the signature and the manuals' public URL. The responder
 * and the sender read them; src/app/config.ts parses them from the environment and hands over a
 * configuration that holds these fields (docs/ARCHITECTURE.md#send-decision).
 */
import type { DecisionPolicy } from '../rag/decide.js';

export const SEND_MODES = ['auto', 'draft', 'review', 'shadow'] as const;
export type SendMode = (typeof SEND_MODES)[number];

/** Which mode each mailbox sends in: MAILBOX_POLICIES over SEND_POLICY. */
export interface SendModeSettings {
  /** SEND_POLICY, or the mode derived from the first language model when it is unset. */
  SEND_POLICY: SendMode;
  /** MAILBOX_POLICIES as a map keyed by the lower-cased address. */
  mailboxPolicies: Map<string, SendMode>;
}

/** The send mode of a mailbox. */
export function sendModeOf(settings: SendModeSettings, agentEmail: string): SendMode {
  return settings.mailboxPolicies.get(agentEmail.toLowerCase()) ?? settings.SEND_POLICY;
}

/** What a mailbox may set for its replies (MAILBOX_SETTINGS). */
export interface MailboxSettings {
  signature?: string;
  manuals_url?: string;
}

/** The reply settings of every mailbox: each one's own (MAILBOX_SETTINGS), and the defaults. */
export interface ReplySettings {
  /** MAILBOX_SETTINGS as a map keyed by the lower-cased address. */
  MAILBOX_SETTINGS: Map<string, MailboxSettings>;
  REPLY_SIGNATURE: string;
  /** Empty: no links to the manuals. */
  MANUALS_PUBLIC_URL: string;
}

/** The signature and the manuals' public URL template of a mailbox, its own settings before the defaults. */
export function replySettingsOf(settings: ReplySettings, agentEmail: string): { signature: string; manualsUrl: string | undefined } {
  const own = settings.MAILBOX_SETTINGS.get(agentEmail.toLowerCase());
  const signature = (own?.signature ?? settings.REPLY_SIGNATURE).replaceAll('\\n', '\n');
  return { signature, manualsUrl: own?.manuals_url ?? (settings.MANUALS_PUBLIC_URL || undefined) };
}

/** The settings the send decision is made from (responder and sender both read them). */
export interface DecisionSettings {
  AUTO_SEND_MIN_CONFIDENCE: number;
  AUTO_SEND_MIN_SCORE: number;
  AUTO_SEND_MIN_MARGIN: number;
  AUTO_SEND_MIN_COVERAGE: number;
  AUTO_SEND_MIN_MODEL_CONFIDENCE: number;
  /** Whether SEND_POLICY was set, rather than derived from the first language model. */
  sendPolicySet: boolean;
}

/** The decision thresholds as src/rag/decide.ts takes them. */
export function decisionPolicyOf(settings: DecisionSettings): DecisionPolicy {
  return {
    // SEND_POLICY unset means the local model's replies are drafts, also when it stands in for Gemini or Claude.
    draftProviders: settings.sendPolicySet ? [] : ['local'],
    minClassificationConfidence: settings.AUTO_SEND_MIN_CONFIDENCE,
    minRelevance: settings.AUTO_SEND_MIN_SCORE,
    minMargin: settings.AUTO_SEND_MIN_MARGIN,
    minCoverage: settings.AUTO_SEND_MIN_COVERAGE,
    minModelConfidence: settings.AUTO_SEND_MIN_MODEL_CONFIDENCE,
  };
}
