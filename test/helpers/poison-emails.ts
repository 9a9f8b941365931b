/**
 * Emails built to hurt, for the fault suite: a support question buried in a 5 MB body, bytes that
 * are not UTF-8 in a body and in headers that say UTF-8, and NUL and control characters in the
 * text. Each is a {@link CorpusEmail} with a Message-ID of its own and the end it must reach.
 */
import { emailIdOf } from '../../src/pipeline/messages.js';
import { makeEmail } from './email-fixtures.js';
import type { CorpusEmail } from './fault-corpus.js';
import { ACME } from './pipeline.js';

const QUESTION = 'Hello, how do I reset my router admin password? I forgot it and cannot log in to the X200.';

/** Bytes that are never valid UTF-8: a lone continuation byte, an overlong form, a surrogate, 0xFF, a cut sequence. */
const INVALID_UTF8 = Buffer.from([0x80, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xff, 0xfe, 0xe2, 0x82]);

function poison(name: string, run: string, build: (messageId: string) => Buffer, expectsReply: boolean): CorpusEmail {
  const mailboxKey = `poison.${run}.${name}@customers.example`;
  return { sample: `poison:${name}`, mailbox: ACME, raw: build(`<${mailboxKey}>`), emailId: emailIdOf(ACME, mailboxKey), mailboxKey, expectsReply };
}

/** A raw message with an 8-bit body: headers as given, then the body bytes exactly. */
function eightBit(headers: Buffer[], body: Buffer): Buffer {
  const lines = [
    ...headers,
    Buffer.from('MIME-Version: 1.0'),
    Buffer.from('Content-Type: text/plain; charset=utf-8'),
    Buffer.from('Content-Transfer-Encoding: 8bit'),
  ];
  return Buffer.concat([...lines.flatMap((line) => [line, Buffer.from('\r\n')]), Buffer.from('\r\n'), body, Buffer.from('\r\n')]);
}

const header = (text: string) => Buffer.from(text, 'latin1');

/**
 * The poison emails of a run. All of them ask the support question the manuals answer, so each
 * must end with one reply: the damage around the question must neither stop the flow nor get the
 * email answered twice.
 */
export function poisonEmails(run: string): CorpusEmail[] {
  return [
    // 5 MB of filler after the question (base64 on the wire: about 6.8 MB).
    poison(
      '5mb-body',
      run,
      (messageId) =>
        Buffer.from(
          makeEmail({
            messageId,
            from: 'big.body@customers.example',
            subject: 'How do I reset my router admin password?',
            body: `${QUESTION}\n\n${'Log line: the router restarted at night and the lights blinked again. '.repeat(Math.ceil((5 * 1024 * 1024) / 70))}`,
          }),
        ),
      true,
    ),
    poison(
      'invalid-utf8-body',
      run,
      (messageId) =>
        eightBit(
          [
            header('From: Broken Bytes <broken.bytes@customers.example>'),
            header('To: support@acme.example'),
            header('Subject: How do I reset my router admin password?'),
            header(`Message-ID: ${messageId}`),
            header('Date: Mon, 16 Nov 2026 10:00:00 +0000'),
          ],
          Buffer.concat([Buffer.from(`${QUESTION} `), INVALID_UTF8, Buffer.from(' Thanks '), INVALID_UTF8]),
        ),
      true,
    ),
    poison(
      'invalid-utf8-headers',
      run,
      (messageId) =>
        eightBit(
          [
            Buffer.concat([header('From: '), INVALID_UTF8, header(' <bad.header@customers.example>')]),
            header('To: support@acme.example'),
            Buffer.concat([header('Subject: How do I reset my router admin password? '), INVALID_UTF8]),
            header(`Message-ID: ${messageId}`),
            header('Date: Mon, 16 Nov 2026 10:00:00 +0000'),
          ],
          Buffer.from(QUESTION),
        ),
      true,
    ),
    poison(
      'nul-and-control-characters',
      run,
      (messageId) =>
        Buffer.from(
          makeEmail({
            messageId,
            from: 'control.chars@customers.example',
            subject: 'How do I reset my router admin password?',
            body: `${QUESTION}\u0000\u0001\u0002\u001b[31m\u0007\u0000 ${'\u0000'.repeat(64)} end`,
          }),
        ),
      true,
    ),
  ];
}
