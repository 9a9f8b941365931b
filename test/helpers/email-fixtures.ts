/**
 * Raw emails built in memory for tests, so a test states the headers it cares about and
 * nothing else. The result is a complete RFC 5322 message (CRLF line ends, Date, Message-ID).
 */
import { randomUUID } from 'node:crypto';

/** The parts of a test email; anything left out gets a plain, valid default. */
export interface EmailFields {
  /** Sender; default `customer@example.com`. */
  from?: string;
  /** Recipient; default `support@acme.example`. */
  to?: string;
  /** Default `A question`. */
  subject?: string;
  /** Plain-text body; default a short question. */
  body?: string;
  /** Message-ID with angle brackets; default a random one. Empty string leaves the header out. */
  messageId?: string;
  /** Further headers, written after the standard ones in the given order. */
  headers?: Record<string, string>;
}

/** A non-ASCII value as an RFC 2047 encoded word, since raw headers must be ASCII. */
function headerValue(value: string): string {
  return /^[\x20-\x7e]*$/.test(value) ? value : `=?UTF-8?B?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

/** Builds a valid raw email from the given fields. */
export function makeEmail(fields: EmailFields = {}): string {
  const messageId = fields.messageId ?? `<${randomUUID()}@example.com>`;
  const lines = [
    `From: ${fields.from ?? 'customer@example.com'}`,
    `To: ${fields.to ?? 'support@acme.example'}`,
    `Subject: ${headerValue(fields.subject ?? 'A question')}`,
    `Date: ${new Date().toUTCString().replace('GMT', '+0000')}`,
  ];
  if (messageId) lines.push(`Message-ID: ${messageId}`);
  for (const [name, value] of Object.entries(fields.headers ?? {})) lines.push(`${name}: ${headerValue(value)}`);
  lines.push('MIME-Version: 1.0', 'Content-Type: text/plain; charset=utf-8', 'Content-Transfer-Encoding: base64', '');
  const body = fields.body ?? 'Hello, how do I reset my router?\n';
  // Base64 in 76-character lines keeps any body (non-ASCII, long lines) valid.
  const encoded =
    Buffer.from(body, 'utf8')
      .toString('base64')
      .match(/.{1,76}/g) ?? [];
  return [...lines, ...encoded, ''].join('\r\n');
}
