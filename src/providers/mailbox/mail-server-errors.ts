/**
 * IMAP (imapflow) and SMTP (nodemailer) failures as RagmailErrors that say whether a retry may
 * succeed: refused credentials and 5xx SMTP replies will fail again; a lost connection, a timeout,
 * a 4xx SMTP reply or a server that is busy may pass later.
 *
 * Of those that pass, a server that cannot be reached or will not serve anyone now (refused,
 * timed out, not resolved, a 421 or a 4xx greeting, a temporary login failure, IMAP's
 * `[UNAVAILABLE]`) is `mailbox_unreachable`: an outage the consumer rides out without counting
 * attempts (src/messaging/outage-breaker.ts). A 4xx answer to one message (greylisting, a full
 * mailbox) stays `mailbox_unavailable`, retried as that message's failure.
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

/** nodemailer's `command` of the steps of an SMTP session before any message: a 4xx there refuses them all. */
const SESSION_COMMANDS = new Set(['CONN', 'EHLO', 'HELO', 'LHLO', 'STARTTLS', 'AUTH']);

/** Node's codes of a connection that never opened (nodemailer keeps them as `originalCode`). */
const NEVER_CONNECTED_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);
/** nodemailer's codes of failures before any message: a refused envelope, login or TLS. */
const BEFORE_MESSAGE_CODES = new Set(['EENVELOPE', 'EAUTH', 'ENOAUTH', 'ETLS', 'ESTARTTLS', 'EDNS']);

interface Facts {
  /** nodemailer's `originalCode`: Node's own code under nodemailer's (`ECONNREFUSED` under `ESOCKET`). */
  originalCode?: string;
  code?: string;
  /** nodemailer's: the SMTP command the reply answered (`CONN` for the greeting, `AUTH PLAIN`, `RCPT TO` …). */
  command?: string;
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
    originalCode: text('originalCode'),
    command: text('command'),
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
  if (facts.code && CONNECTION_CODES.has(facts.code)) return transientError('mailbox_unreachable', message, error);
  // RFC 5530 response codes of a server that cannot serve now, as against one that refuses:
  // UNAVAILABLE is the server's own subsystem down; the others concern this user or command.
  if (facts.serverResponseCode === 'UNAVAILABLE') return transientError('mailbox_unreachable', message, error);
  if (facts.serverResponseCode && ['INUSE', 'LIMIT', 'OVERQUOTA', 'SERVERBUG'].includes(facts.serverResponseCode)) {
    return transientError('mailbox_unavailable', message, error);
  }
  if (facts.serverResponseCode && ['AUTHENTICATIONFAILED', 'AUTHORIZATIONFAILED', 'NOPERM', 'PRIVACYREQUIRED'].includes(facts.serverResponseCode)) {
    return permanentError('mailbox_forbidden', message, error);
  }
  // Anything else (a NO to a command, a parser error) is unknown: retryable up to the attempt limit.
  return transientError('mailbox_unavailable', message, error);
}

/**
 * Whether a failed SMTP send proves that its message did not leave: the server answered with a
 * refusal (at any step, the end of the DATA included), the failure came before any message (login,
 * TLS, envelope), or the connection never opened. A connection lost or timed out once open proves
 * nothing: the server may have accepted the message before its answer was lost.
 */
export function smtpSentNothing(error: unknown): boolean {
  if (error instanceof RagmailError) return true;
  if (error instanceof Error && error.cause instanceof RagmailError) return true;
  const facts = factsOf(error);
  if (facts.responseCode !== undefined && facts.responseCode >= 400) return true;
  if (facts.code && BEFORE_MESSAGE_CODES.has(facts.code)) return true;
  return facts.originalCode !== undefined && NEVER_CONNECTED_CODES.has(facts.originalCode);
}

/** A nodemailer SMTP failure as a RagmailError. */
export function smtpError(action: string, error: unknown): RagmailError {
  if (error instanceof RagmailError) return error;
  // An OAuth2 access token that could not be had fails the login (nodemailer's EAUTH), for the token source's reason.
  if (error instanceof Error && error.cause instanceof RagmailError) return error.cause;
  const facts = factsOf(error);
  const message = describe('smtp', action, error, facts);
  const deferred = facts.responseCode !== undefined && facts.responseCode >= 400 && facts.responseCode < 500;
  // 454 to AUTH: the server's login service is down (Postfix without its Dovecot), not the credentials wrong.
  if ((facts.code === 'EAUTH' || facts.code === 'ENOAUTH') && !deferred) return permanentError('mailbox_auth', message, error);
  if (facts.code === 'ETLS' || facts.code === 'ESTARTTLS' || facts.certificateRefused) return permanentError('mailbox_tls', message, error);
  if (facts.code && CONNECTION_CODES.has(facts.code)) return transientError('mailbox_unreachable', message, error);
  if (deferred) {
    // 421 anywhere closes the session; a 4xx before any message (greeting, EHLO, AUTH) refuses every message alike.
    const beforeMessage = facts.command !== undefined && SESSION_COMMANDS.has(facts.command.split(' ')[0]!.toUpperCase());
    if (facts.responseCode === 421 || beforeMessage) return transientError('mailbox_unreachable', message, error);
    // Greylisting, a full mailbox, a full queue: this message is tried again later.
    return transientError('mailbox_unavailable', message, error);
  }
  // 5xx: the server refuses this message for good.
  if (facts.responseCode !== undefined && facts.responseCode >= 500) return permanentError('mailbox_rejected', message, error);
  return transientError('mailbox_unavailable', message, error);
}
