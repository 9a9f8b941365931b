/**
 * The connections of the IMAP/SMTP mailbox: how its settings become imapflow and nodemailer
 * options (password or OAuth2 bearer, implicit TLS, STARTTLS or none, a CA file), and the start-up
 * check that logs in to both servers.
 */
import { readFileSync } from 'node:fs';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';
import { permanentError } from '../../lib/errors.js';
import { runProviderCheck, type ProviderCheck } from '../provider-check.js';
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
  /** ... or an OAuth2 access token (SASL XOAUTH2), e.g. for Gmail and Microsoft 365; wins over the password. */
  accessToken?: string;
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

/** imapflow's options for `servers.imap`. */
export function imapOptions(servers: MailServers): ImapFlowOptions {
  const { imap } = servers;
  const ca = certificateAuthorities(servers.caFile);
  const timeout = servers.timeoutMs ?? 30_000;
  return {
    host: imap.host,
    port: imap.port,
    secure: imap.tls === 'tls',
    // true: STARTTLS or no login at all; false: stay in clear even when the server offers it.
    doSTARTTLS: imap.tls === 'starttls' ? true : imap.tls === 'none' ? false : undefined,
    auth: imap.accessToken ? { user: imap.user, accessToken: imap.accessToken } : { user: imap.user, pass: imap.password ?? '' },
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
  const auth: SMTPTransport.Options['auth'] = smtp.accessToken
    ? { type: 'OAuth2', user: smtp.user, accessToken: smtp.accessToken }
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

/** A new, unconnected IMAP client; the caller connects it and must log it out. */
export function newImapClient(servers: MailServers, overrides: Partial<ImapFlowOptions> = {}): ImapFlow {
  return new ImapFlow({ ...imapOptions(servers), ...overrides });
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
      const client = newImapClient(servers);
      client.on('error', () => undefined); // reported by the failed command
      let status;
      try {
        await client.connect();
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
      const hint = mapped.code === 'mailbox_auth' ? `credentials rejected, check ${stage.toUpperCase()}_USER and the password or IMAP_ACCESS_TOKEN: ` : '';
      return `${mapped.code}: ${hint}${mapped.message}`;
    },
  );
}
