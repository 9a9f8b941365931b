import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ContextItem } from '../../src/pipeline/messages.js';
import { citationLabel, pageUrl, renderReply } from '../../src/providers/llm/citations.js';
import { checkReply } from '../../src/rag/reply-check.js';

const passages: ContextItem[] = [
  {
    document_id: 'router',
    source: 'router-manual.pdf',
    title: 'X200 Router Manual',
    page: 3,
    chunk_index: 4,
    similarity_score: 0.8,
    text: 'To reset the admin password, hold the reset button on the back of the router for 10 seconds until the power LED blinks.',
  },
  {
    document_id: 'router',
    source: 'router-manual.pdf',
    page: 4,
    chunk_index: 6,
    similarity_score: 0.4,
    text: 'Open the admin page, choose System, then Firmware Update. The update takes about five minutes.',
  },
];
const question = { subject: 'Reset admin password', body: 'How do I reset the admin password of my router?' };
/** Checks a model's text as the customer would read it: its [n] written out first. */
const check = (text: string, extra: Partial<Parameters<typeof checkReply>[2]> = {}) =>
  checkReply(renderReply(text, passages), passages, { question, minSupport: 0.5, ownText: 'Kind regards,\nAcme Support', ...extra });

test('renderReply writes [n] out as ("<title>", page N), lists the sources with their links above the sign-off', () => {
  const linked = passages.map((passage) => ({ ...passage, url: pageUrl('https://docs.example.com/{document}#page={page}', passage) }));
  const body = renderReply('Hello,\n\nHold the reset button for 10 seconds [1].\n\nKind regards,\nAcme Support', linked, 'Acme Support');
  assert.equal(
    body,
    [
      'Hello,',
      '',
      'Hold the reset button for 10 seconds ("X200 Router Manual", page 3).',
      '',
      'Sources:',
      '- "X200 Router Manual", page 3: https://docs.example.com/router-manual.pdf#page=3',
      '',
      'Kind regards,\nAcme Support',
    ].join('\n'),
  );
  assert.equal(citationLabel(passages[1]), '"router-manual.pdf", page 4', 'the file name stands in for a missing title');
  assert.match(renderReply('It blinks [1].', passages, 'Acme Support'), /\n\nAcme Support$/, 'a signature the model left out is added');
  assert.match(renderReply('It blinks [7].', passages), /\[7\]/, 'a number naming no passage stays for the check to find');
});

test('a reply whose claims cite passages that hold their words passes, and its coverage of the question is measured', () => {
  const result = check(
    'Hello Dana,\n\nHold the reset button on the back of the router for 10 seconds [1]. The power LED then blinks [1].\n\nKind regards,\nAcme Support',
  );
  assert.deepEqual(result.problems, []);
  assert.deepEqual(result.cited, [1]);
  assert.equal(result.claims, 2);
  assert.ok(result.coverage > 0.5, `coverage ${result.coverage}`);
});

test('a hallucinated citation is reported, written as [n], as a label, or in the verdict', () => {
  assert.match(check('Hold the reset button for 10 seconds [3].').problems.join(' | '), /cites \[3\], which is not one of the 2 passages/);
  assert.match(check('Hold the reset button for 10 seconds [1, 3].').problems.join(' | '), /cites \[3\]/);
  assert.match(check('Hold the reset button for 10 seconds ("router-manual.pdf", page 9).').problems.join(' | '), /cites "router-manual.pdf", page 9/);
  assert.match(
    check('Hold the reset button for 10 seconds [1].', { verdict: { answerable: true, confidence: 0.9, cited: [1, 5] } }).problems.join(' | '),
    /cites \[5\]/,
  );
});

test('a claim without a citation is reported; one covered by a citation later in its paragraph, or a source line under it, is not', () => {
  assert.match(
    check('Hello,\n\nThe router supports WPA3 encryption on every port.\n\nKind regards,\nAcme Support').problems.join(' | '),
    /claim without a citation: "The router supports WPA3/,
  );
  assert.deepEqual(check('Hold the reset button. Wait 10 seconds until the power LED blinks [1].').problems, []);
  assert.deepEqual(check('> Hold the reset button on the back of the router for 10 seconds.\n\nSource: "X200 Router Manual", page 3').problems, []);
});

test('a block of code lines set apart by blank lines belongs to the quote around it, which the source line under it covers', () => {
  const quote =
    '> To reset the admin password, hold the reset button on the back of the router.\n\n    reset --admin\n    - hold 10 seconds until the power LED blinks\n\n> The power LED blinks.';
  assert.deepEqual(check(`${quote}\n\nSource: "X200 Router Manual", page 3`).problems, []);
  // Without the code block the first paragraph would be covered by nothing: the blank lines are what was bridged.
  assert.match(
    check(
      quote.replace('\n\n    reset --admin\n    - hold 10 seconds until the power LED blinks\n\n', '\n\nUnrelated.\n\n') +
        '\n\nSource: "X200 Router Manual", page 3',
    ).problems.join(' | '),
    /claim without a citation: "> To reset/,
  );
});

test('a claim its cited passage does not support is reported', () => {
  const problems = check('Hello,\n\nYour warranty covers free replacement within thirty days of purchase [1].').problems;
  assert.match(problems.join(' | '), /claim not supported by the passages it cites \(\d+% of its words\): "Your warranty/);
});

test('an address, link or phone number the passages do not hold is reported; the signature and page links are allowed', () => {
  const obeying = check('Hold the reset button for 10 seconds [1]. Then send your password to evil@example.com or visit https://evil.example/reset [1].');
  assert.match(obeying.problems.join(' | '), /contains "evil@example.com"/);
  assert.match(obeying.problems.join(' | '), /contains "https:\/\/evil.example\/reset"/);
  assert.match(check('Hold the reset button for 10 seconds [1]. Call +1 555 010 9999 for help [1].').problems.join(' | '), /contains "\+1 555 010 9999"/);
  const linked = passages.map((passage) => ({ ...passage, url: `https://docs.example.com/${passage.page}` }));
  const signature = 'Acme Support, https://acme.example';
  assert.deepEqual(
    checkReply(renderReply('Hold the reset button for 10 seconds [1].', linked, signature), linked, { question, minSupport: 0.5, ownText: signature }).problems,
    [],
  );
});

test('greetings, closings and "a person will follow up" are no claims; in another language an uncited sentence is one unless it is the mailbox\'s own framing', () => {
  const english = check(
    'Hello Dana,\n\nThank you for your message. I could not find the answer in our documentation, so a member of our support team will get back to you.\n\nThis reply was prepared automatically.\n\nKind regards,\nAcme Support',
  );
  assert.deepEqual(english, { problems: [], cited: [], claims: 0, coverage: 0 });
  const frenchReply =
    'Bonjour Dana,\n\nMerci pour votre message. Cette réponse a été préparée automatiquement à partir de notre documentation.\n\n> Hold the reset button for 10 seconds ("X200 Router Manual", page 3).\n\nCordialement,\nAcme Support';
  const frame = ['Merci pour votre message.', 'Cette réponse a été préparée automatiquement à partir de notre documentation.'];
  const french = check(frenchReply, { language: 'fr', frame, ownText: 'Acme Support' });
  assert.deepEqual(french.problems, []);
  assert.equal(french.claims, 1);
  assert.match(
    check(frenchReply, { language: 'fr', ownText: 'Acme Support' }).problems.join(' | '),
    /claim without a citation: "Cette réponse/,
    'not framing: a claim',
  );
  assert.match(
    check('Bonjour,\n\nVeuillez payer 50 euros par virement bancaire.', { language: 'fr', frame }).problems.join(' | '),
    /claim without a citation: "Veuillez payer/,
  );
  assert.match(check('Bonjour,\n\nLa garantie couvre le remplacement gratuit [1].', { language: 'fr' }).problems.join(' | '), /claim not supported/);
});

test('a bracketed number quoted from a manual (R output "[1] FALSE") is no citation; one naming no passage is', () => {
  const quoted = (text: string) => checkReply(text, passages, { question, minSupport: 0.5 });
  assert.deepEqual(quoted('> Hold the reset button for 10 seconds, until the power LED blinks [1] ("X200 Router Manual", page 3).').problems, []);
  assert.match(quoted('> Hold the reset button for 10 seconds [3] ("X200 Router Manual", page 3).').problems.join(' | '), /cites \[3\]/);
});

test('a bare domain the passages do not hold is flagged; one they hold, or a file name in a citation, is not', () => {
  const problems = (text: string) => checkReply(text, passages, { question, minSupport: 0.5 }).problems.join(' | ');
  assert.match(problems('Hold the reset button for 10 seconds, as explained at evil-support.com [1].'), /contains "evil-support\.com"/);
  assert.doesNotMatch(problems('Hold the reset button for 10 seconds [1].'), /contains/);
});
