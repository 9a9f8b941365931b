import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emailQuery } from '../../src/rag/email-query.js';
import { BODY_CUT_NOTE } from '../../src/rag/model-input.js';
import { CRAFTED_INPUT_LIMIT_MS, withinTime } from '../helpers/time-limit.js';

test('the query is the subject without reply prefixes, then the question without greeting, closing, signature or quoted history', () => {
  const body = [
    'Hi team,',
    '',
    'How do I make the y axis logarithmic?',
    'Thanks! It matters for our report.',
    '',
    'Kind regards,',
    'Bob',
    '',
    '-- ',
    'Bob Smith | Example Ltd | +1 555 0100',
    '',
    'On Mon, 1 Jan 2024 at 09:00, Support <support@example.com> wrote:',
    '> Hello Bob, which version of the invoice portal do you use?',
  ].join('\r\n');
  assert.equal(emailQuery({ subject: 'Re: Fwd: Log scale', body }), 'Log scale\nHow do I make the y axis logarithmic?\nThanks! It matters for our report.');
});

test('a mailing list footer is left out, and a body that is all greeting leaves the subject alone', () => {
  const body = 'My plot has no legend. Why?\n_______________________\ngnuplot-info mailing list\nhttps://lists.example.org/listinfo/gnuplot-info';
  assert.equal(emailQuery({ subject: 'Legend', body }), 'Legend\nMy plot has no legend. Why?');
  assert.equal(emailQuery({ subject: 'Legend missing', body: 'Hello,\n\nThanks,\nAnn' }), 'Legend missing');
});

test('the note that says a long body was cut is not part of the query', () => {
  assert.equal(emailQuery({ subject: 'Router', body: `How do I reset the router?${BODY_CUT_NOTE}` }), 'Router\nHow do I reset the router?');
});

test('a sign-off block of short lines under the last paragraph is left out; a last paragraph that is a sentence stays', () => {
  const body = 'The light on the router is blinking red. What do I do now?\n\nMarcus Bell\nBell Bakery';
  assert.equal(emailQuery({ subject: 'Router', body }), 'Router\nThe light on the router is blinking red. What do I do now?');
  const question = 'The light is red.\n\nWhat do I do now?';
  assert.equal(emailQuery({ subject: 'Router', body: question }), `Router\n${question}`);
});

test('greetings, closings and what follows them are left out in French, German, Spanish and Japanese too', () => {
  const cases: Array<[string, string]> = [
    [
      'Bonjour à toute l’équipe,\n\nComment imprimer le sujet une seule fois ?\n\nMerci d’avance,\nSalutations distinguées,\nMarc Lambert\nService des concours',
      'Comment imprimer le sujet une seule fois ?',
    ],
    ['Sehr geehrte Damen und Herren,\n\nWie drucke ich die Antwortbögen?\n\nMit freundlichen Grüßen\nAnna Schmidt', 'Wie drucke ich die Antwortbögen?'],
    ['Hola Ana:\n\n¿Cómo cambio la escala del eje y?\n\nUn saludo,\nLuis', '¿Cómo cambio la escala del eje y?'],
    ['いつもお世話になっております。\n\n採点基準の変更方法を教えてください。\n\nよろしくお願いいたします。\n鈴木 一郎', '採点基準の変更方法を教えてください。'],
  ];
  for (const [body, question] of cases) assert.equal(emailQuery({ subject: 'Question', body }), `Question\n${question}`);
});

test('the query of 200 KB of crafted text (one line of digits, attribution-like lines, header-like words) is built in well under 2 s', async () => {
  for (const body of ['1'.repeat(200_000), '$1'.repeat(100_000), 'Op schreef x\n'.repeat(15_000), 'a on at '.repeat(25_000)]) {
    await withinTime(CRAFTED_INPUT_LIMIT_MS, `the query of ${body.slice(0, 4)}…`, () => emailQuery({ subject: 'Help', body }));
  }
});
