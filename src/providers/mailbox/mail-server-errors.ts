/**
 * IMAP (imapflow) and SMTP (nodemailer) failures as RagmailErrors that say whether a retry may
 * succeed: refused credentials and 5xx SMTP replies will fail again; a lost connection, a timeout,
 * a 4xx SMTP reply or a server that is busy may pass later.
 */
import { RagmailError, permanentError, transientError } from '../../lib/errors.js';

/** Node's and the libraries' codes of a connection that failed or broke: worth another try. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'ETIMEOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'NoConnection',
  'ClosedAfterConnectTLS',
  'ClosedAfterConnectText',
  'ETHROTTLE',
  // nodemailer's
  'ECONNECTION',
  'ESOCKET',
  'EDNS',
]);

/** Node's codes of a certificate it does not trust: the same certificate fails the next time too. */
const CERTIFICATE_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REVOKED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

interface Facts {
  code?: string;
  /** Whether the error, or one it wraps, is a certificate Node refused. */
  certificateRefused: boolean;
  responseCode?: number;
  authenticationFailed?: boolean;
  tlsFailed?: boolean;
  responseText?: string;
  serverResponseCode?: string;
}

function certificateRefused(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== 'object' || depth > 3) return false;
  const record = error as Record<string, unknown>;
  // nodemailer keeps Node's code as `originalCode` under its own `ESOCKET`.
  for (const key of ['code', 'originalCode']) if (typeof record[key] === 'string' && CERTIFICATE_CODES.has(record[key])) return true;
  return certificateRefused(record.cause, depth + 1) || certificateRefused(record._err, depth + 1);
}

function factsOf(error: unknown): Facts {
  if (!error || typeof error !== 'object') return { certificateRefused: false };
  const record = error as Record<string, unknown>;
  const text = (key: string) => (typeof record[key] === 'string' ? (record[key] as string) : undefined);
  return {
    code: text('code'),
    certificateRefused: certificateRefused(error),
    responseCode: typeof record.responseCode === 'number' ? record.responseCode : undefined,
    authenticationFailed: record.authenticationFailed === true,
    tlsFailed: record.tlsFailed === true,
    responseText: text('responseText') ?? text('response'),
    serverResponseCode: text('serverResponseCode'),
  };
}

function describe(server: string, action: string, error: unknown, facts: Facts): string {
  const text = error instanceof Error ? error.message : String(error);
  const detail = facts.responseText && !text.includes(facts.responseText) ? `${text} (${facts.responseText})` : text;
  return `${server} ${action} failed: ${detail}`;
}

/** An imapflow failure as a RagmailError. */
export function imapError(action: string, error: unknown): RagmailError {
  if (error instanceof RagmailError) return error;
  const facts = factsOf(error);
  const message = describe('imap', action, error, facts);
  if (facts.authenticationFailed) return permanentError('mailbox_auth', message, error);
  // A certificate the CA file does not vouch for stays untrusted on the next attempt too.
  if (facts.tlsFailed || facts.certificateRefused) return permanentError('mailbox_tls', message, error);
  if (facts.code && CONNECTION_CODES.has(facts.code)) return transientError('mailbox_unavailable', message, error);
  // RFC 5530 response codes of a server that cannot serve now, as against one that refuses.
  if (facts.serverResponseCode && ['UNAVAILABLE', 'INUSE', 'LIMIT', 'OVERQUOTA', 'SERVERBUG'].includes(facts.serverResponseCode)) {
    return transientError('mailbox_unavailable', message, error);
  }
  if (facts.serverResponseCode && ['AUTHENTICATIONFAILED', 'AUTHORIZATIONFAILED', 'NOPERM', 'PRIVACYREQUIRED'].includes(facts.serverResponseCode)) {
    return permanentError('mailbox_forbidden', message, error);
  }
  // Anything else (a NO to a command, a parser error) is unknown: retryable up to the attempt limit.
  return transientError('mailbox_unavailable', message, error);
}

/** A nodemailer SMTP failure as a RagmailError. */
export function smtpError(action: string, error: unknown): RagmailError {
  if (error instanceof RagmailError) return error;
  const facts = factsOf(error);
  const message = describe('smtp', action, error, facts);
  if (facts.code === 'EAUTH' || facts.code === 'ENOAUTH') return permanentError('mailbox_auth', message, error);
  if (facts.code === 'ETLS' || facts.code === 'ESTARTTLS' || facts.certificateRefused) return permanentError('mailbox_tls', message, error);
  if (facts.responseCode !== undefined) {
    // 4xx: try again later (greylisting, a full queue); 5xx: the server refuses this message for good.
    return facts.responseCode >= 500 ? permanentError('mailbox_rejected', message, error) : transientError('mailbox_unavailable', message, error);
  }
  return transientError('mailbox_unavailable', message, error);
}
