/**
 * The connections of the IMAP/SMTP mailbox: how its settings become imapflow and nodemailer
 * options (password or OAuth2 bearer, implicit TLS, STARTTLS or none, a CA file), the IMAP login
 * (a refused OAuth2 token is renewed once), and the start-up check that logs in to both servers.
 */
import { readFileSync } from 'node:fs';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import type { XOAuth2ProvisionCallback } from 'nodemailer/lib/xoauth2/index.js';
import { permanentError } from '../../lib/errors.js';
import { runProviderCheck, type ProviderCheck } from '../provider-check.js';
import type { AccessTokens } from './access-token.js';
import { imapError, smtpError } from './mail-server-errors.js';

/**
 * `tls`: TLS from the first byte (IMAP 993, SMTP 465). `starttls`: a plain connection upgraded
 * with STARTTLS, refused when the server does not offer it (IMAP 143, SMTP 587). `none`: no TLS
 * at all, for a server on loopback only (the credentials cross the wire in clear).
 */
export type MailTls = 'tls' | 'starttls' | 'none';
export const MAIL_TLS_MODES = ['tls', 'starttls', 'none'] as const;

/** One server and how to log in to it. */
export interface MailServer {
  host: string;
  port: number;
  tls: MailTls;
  user: string;
  /** Password login (IMAP LOGIN / AUTHENTICATE PLAIN, SMTP AUTH PLAIN or LOGIN) ... */
  password?: string;
  /** ... or OAuth2 access tokens (SASL XOAUTH2), e.g. for Gmail and Microsoft 365; win over the password. */
  oauth2?: AccessTokens;
}

/** The two servers of one mailbox. */
export interface MailServers {
  imap: MailServer;
  smtp: MailServer;
  /** PEM file of the CA(s) that signed the servers' certificates (MAIL_CA_FILE); empty trusts Node's default CAs. */
  caFile?: string;
  /** Connect, greeting and socket inactivity timeout of each connection, in ms. Default 30000. */
  timeoutMs?: number;
}

/** The CA file's contents, read when a connection is made; a missing file is a configuration error. */
function certificateAuthorities(caFile: string | undefined): Buffer | undefined {
  if (!caFile) return undefined;
  try {
    return readFileSync(caFile);
  } catch (error) {
    throw permanentError('configuration_invalid', `MAIL_CA_FILE ${caFile} cannot be read: ${(error as Error).message}`, error);
  }
}

/** imapflow's options for `servers.imap`, logging in with `accessToken` when it uses OAuth2. */
export function imapOptions(servers: MailServers, accessToken?: string): ImapFlowOptions {
  const { imap } = servers;
  const ca = certificateAuthorities(servers.caFile);
  const timeout = servers.timeoutMs ?? 30_000;
  return {
    host: imap.host,
    port: imap.port,
    secure: imap.tls === 'tls',
    // true: STARTTLS or no login at all; false: stay in clear even when the server offers it.
    doSTARTTLS: imap.tls === 'starttls' ? true : imap.tls === 'none' ? false : undefined,
    auth: accessToken ? { user: imap.user, accessToken } : { user: imap.user, pass: imap.password ?? '' },
    tls: ca ? { ca } : undefined,
    logger: false,
    // The poller polls; an IDLE between two polls would only have to be broken by the next command.
    disableAutoIdle: true,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: Math.max(timeout, 60_000),
  };
}

/** nodemailer's SMTP transport options for `servers.smtp`. */
export function smtpOptions(servers: MailServers): SMTPTransport.Options {
  const { smtp } = servers;
  const ca = certificateAuthorities(servers.caFile);
  const timeout = servers.timeoutMs ?? 30_000;
  const auth: SMTPTransport.Options['auth'] = smtp.oauth2
    ? { type: 'OAuth2', user: smtp.user, provisionCallback: provisionFrom(smtp.oauth2) }
    : smtp.user
      ? { user: smtp.user, pass: smtp.password ?? '' }
      : undefined;
  return {
    host: smtp.host,
    port: smtp.port,
    secure: smtp.tls === 'tls',
    requireTLS: smtp.tls === 'starttls',
    ignoreTLS: smtp.tls === 'none',
    auth,
    tls: ca ? { ca } : undefined,
    connectionTimeout: timeout,
    greetingTimeout: timeout,
    socketTimeout: Math.max(timeout, 60_000),
  };
}

/**
 * nodemailer's OAuth2 token hook, fed by `tokens`: nodemailer asks again with `renew` when the
 * server refused the token it was given, and tries the login once more with the answer.
 */
function provisionFrom(tokens: AccessTokens): XOAuth2ProvisionCallback {
  let given: string | undefined;
  return (_user, renew, callback) => {
    tokens.token(renew ? given : undefined).then(
      (token) => {
        given = token;
        callback(null, token);
      },
      // nodemailer recodes the error it is handed as EAUTH: the token source's own verdict rides in `cause` (smtpError).
      (error: Error) => callback(new Error(error.message, { cause: error })),
    );
  };
}

/**
 * Logs an imapflow connection's `error` event. A connection left unused past the socket timeout
 * is closed by imapflow (`ETIMEOUT`) and opened again by the next call: not worth a warning; a
 * command that fails rejects on its own.
 */
export function reportConnectionError(logger: ConnectionLogger | undefined, message: string, error: Error & { code?: string }): void {
  if (error.code !== 'ETIMEOUT') logger?.warn(message, { error: error.message });
}

/** What the mailbox tells about its connections. */
export interface ConnectionLogger {
  warn(message: string, fields?: Record<string, unknown>): void;
}

/**
 * A logged-in IMAP client; the caller must log it out. `prepare` sees the client before it connects
 * (to listen to its events). An OAuth2 token the server refuses is renewed and tried once more:
 * one that expired early, or was revoked and replaced, needs no restart.
 */
export async function connectImap(
  servers: MailServers,
  overrides: Partial<ImapFlowOptions> = {},
  prepare: (client: ImapFlow) => void = () => undefined,
): Promise<ImapFlow> {
  let refused: string | undefined;
  for (;;) {
    const accessToken = await servers.imap.oauth2?.token(refused);
    const client = new ImapFlow({ ...imapOptions(servers, accessToken), ...overrides });
    prepare(client);
    try {
      await client.connect();
      return client;
    } catch (error) {
      client.close();
      const authenticationFailed = (error as { authenticationFailed?: unknown }).authenticationFailed === true;
      if (!(accessToken && authenticationFailed && refused === undefined)) throw imapError('connect', error);
      refused = accessToken;
    }
  }
}

/** The SMTP transport; one connection per message, so nothing is held open between replies. */
export function newSmtpTransport(servers: MailServers) {
  return nodemailer.createTransport(smtpOptions(servers));
}

/**
 * Logs in to IMAP and reads the status of `mailbox`, then opens an SMTP session (EHLO, STARTTLS,
 * AUTH) and closes it without sending. Never throws.
 */
export async function checkMailServers(servers: MailServers, mailbox: string): Promise<ProviderCheck> {
  if (!servers.imap.host) return { ok: false, latencyMs: 0, detail: 'IMAP_HOST is not set' };
  let stage = 'imap';
  return runProviderCheck(
    async () => {
      // A connection error is reported by the failed command.
      const client = await connectImap(servers, {}, (unconnected) => unconnected.on('error', () => undefined));
      let status;
      try {
        status = await client.status(mailbox, { messages: true, unseen: true });
      } finally {
        await client.logout().catch(() => client.close());
      }
      stage = 'smtp';
      const transport = newSmtpTransport(servers);
      try {
        await transport.verify();
      } finally {
        transport.close();
      }
      const { imap, smtp } = servers;
      const counted = status ? `${status.messages ?? 0} messages, ${status.unseen ?? 0} unseen` : 'no status';
      return `imap ${imap.host}:${imap.port} ${mailbox}: ${counted}; smtp ${smtp.host}:${smtp.port} accepted the login`;
    },
    (error) => {
      const mapped = stage === 'imap' ? imapError('login', error) : smtpError('login', error);
      const hint =
        mapped.code === 'mailbox_auth'
          ? `credentials rejected, check ${stage.toUpperCase()}_USER and the password or the OAuth2 settings (IMAP_ACCESS_TOKEN, IMAP_OAUTH2_*): `
          : '';
      return `${mapped.code}: ${hint}${mapped.message}`;
    },
  );
}
