/**
 * What an email itself says, apart from the history it quotes (src/classify/fresh-text.ts): every
 * common way a client pastes the earlier message below a reply must count as quoted history, so an
 * answer that quotes a question is not read as the question.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { freshText } from '../../src/classify/fresh-text.js';

const QUESTION = 'How do I reset the printer? It keeps failing.';

/** The fresh text must be the reply alone; the quoted question must not appear in it. */
function assertOnlyReply(body: string, reply: string) {
  const fresh = freshText(body);
  assert.equal(fresh.text, reply);
  assert.ok(fresh.quotedLines > 0, 'quoted lines counted');
}

test('an Outlook header block (From / Sent / To / Subject), with or without an address, opens quoted history', () => {
  assertOnlyReply(
    `Thanks, that fixed it.\n\nFrom: Anna Smith [mailto:anna@example.com]\nSent: Monday, January 1, 2024 9:00 AM\nTo: Support\nSubject: Printer\n\n${QUESTION}`,
    'Thanks, that fixed it.',
  );
  assertOnlyReply(
    `Thanks, that fixed it.\n\nFrom: Anna Smith\nSent: Monday, January 1, 2024 9:00 AM\nTo: Support\nSubject: Printer\n\n${QUESTION}`,
    'Thanks, that fixed it.',
  );
});

test('a German and a French Outlook header block open quoted history', () => {
  assertOnlyReply(
    `Danke!\n\nVon: Anna Schmidt\nGesendet: Montag, 1. Januar 2024 09:00\nAn: Support\nBetreff: Drucker\n\nWie setze ich den Drucker zurück?`,
    'Danke!',
  );
  assertOnlyReply(
    `Merci !\n\nDe : Anna\nEnvoyé : lundi 1 janvier 2024 09:00\nÀ : Support\nObjet : Imprimante\n\nComment réinitialiser l'imprimante ?`,
    'Merci !',
  );
});

test('Outlook on the web: the rule above the header block is history, not a footer', () => {
  const fresh = freshText(
    `Thanks!\n\n________________________________\nFrom: Anna Smith <anna@example.com>\nSent: Monday\nTo: Support\nSubject: Printer\n\n${QUESTION}`,
  );
  assert.equal(fresh.text, 'Thanks!');
  assert.equal(fresh.footer, '');
});

test('a line starting "From:" in prose, with no header after it, stays the sender\'s words', () => {
  const body = 'From: the moment I plug it in, the printer blinks red.\nWhat does that mean?';
  assert.equal(freshText(body).text, body);
});

test('"-----Original Message-----" and its translations open quoted history', () => {
  assertOnlyReply(`Thanks!\n\n-----Original Message-----\nFrom: Anna\nSent: Monday\n${QUESTION}`, 'Thanks!');
  assertOnlyReply(`Dank!\n\n-----Oorspronkelijk bericht-----\n${QUESTION}`, 'Dank!');
  assertOnlyReply(`See below.\n\nBegin forwarded message:\n\nFrom: Anna <anna@example.com>\nSubject: Printer\n\n${QUESTION}`, 'See below.');
});

test('"On … wrote:" wrapped over two lines is history, both lines', () => {
  assertOnlyReply(`Thanks!\n\nOn Mon, Jan 1, 2024 at 9:00 AM Anna Smith <\nanna@example.com> wrote:\n\n> ${QUESTION}`, 'Thanks!');
  assertOnlyReply(`Thanks!\n\nOn Mon, Jan 1, 2024 at 9:00 AM Anna Smith <anna@example.com>\nwrote:\n\n> ${QUESTION}`, 'Thanks!');
});

test('"writes:", "In message …, X writes:", mutt\'s "* X <address> [date]:" and Gmail\'s Japanese attribution are history', () => {
  assertOnlyReply(`Thanks!\n\nAnna <anna@example.com> writes:\n> ${QUESTION}`, 'Thanks!');
  assertOnlyReply(`Thanks!\n\nIn message <123@example.com>, Anna writes:\n>${QUESTION}`, 'Thanks!');
  assertOnlyReply(`Thanks!\n\n* Anna Smith <anna@example.com> [2002-08-01 10:00]:\n> ${QUESTION}`, 'Thanks!');
  assertOnlyReply(`ありがとう\n\n2024年1月1日(月) 9:00 Anna <anna@example.com>:\n\n> プリンタをリセットするには?`, 'ありがとう');
});

test('an inline reply between quoted lines stays fresh text', () => {
  assert.equal(
    freshText(`On Mon, 1 Jan 2024, Anna wrote:\n> ${QUESTION}\nHold the power button for ten seconds.\n> Thanks`).text,
    'Hold the power button for ten seconds.',
  );
});

test('a customer\'s own story that says "said:" or "schreibt:", or "From: … To: …", stays fresh text', () => {
  const told = 'On Monday at 9 I called your hotline about my router.\nThe agent said:\nReset it and wait.\nThat did not help.';
  assert.equal(freshText(told).text, told);
  const german = 'Am 3. Mai habe ich den Router neu gestartet.\nDer Techniker schreibt:\nBitte warten.';
  assert.equal(freshText(german).text, german);
  const ports = 'I set up port forwarding\nFrom: port 8080\nTo: port 80\nbut it does not work. How do I fix it?';
  assert.equal(freshText(ports).text, ports);
});
