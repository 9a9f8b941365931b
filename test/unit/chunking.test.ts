import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkPages, normaliseKeepingHeadings, normaliseWhitespace } from '../../src/rag/chunking.js';

const document = { documentId: 'doc-1', documentName: 'manual.pdf' };

/** Numbered sentences, so every chunk's position in the page can be read from its text. */
function sentences(prefix: string, count: number): string {
  return Array.from({ length: count }, (_, index) => `${prefix} sentence number ${index} ends here.`).join(' ');
}

test('whitespace is normalised: newlines, tabs and runs of spaces become one space', () => {
  const chunks = chunkPages(['  Reset   the\n\nrouter:\thold   the button.  '], document);
  assert.equal(chunks.length, 1);
  assert.equal(chunks[0].text, 'Reset the router: hold the button.');
  assert.equal(normaliseWhitespace('\u00a0a \n b\t'), 'a b');
});

test('a heading keeps a line of its own; lines wrapped inside a sentence are joined', () => {
  const page =
    'Firmware update\nNew firmware brings security fixes, and\nimprovements. To update, open the web admin.\n' +
    '3.2 Resetting the admin password\nHold the RESET button, for\n10 seconds. See the section\nAdvanced Settings\nfor details.';
  assert.equal(
    chunkPages([page], document)[0].text,
    'Firmware update\nNew firmware brings security fixes, and improvements. To update, open the web admin.\n' +
      '3.2 Resetting the admin password\nHold the RESET button, for 10 seconds. See the section Advanced Settings for details.',
  );
  // A compound cut after its hyphen is joined; a word cut before a small letter is not (see chunking.ts).
  assert.equal(normaliseKeepingHeadings('la créa-\ntion du fichier.\nYour Wi-\nFi settings.'), 'la créa- tion du fichier. Your Wi-Fi settings.');
  // Not headings: a line that ends a sentence, code, a label with a colon, a word cut by a hyphen,
  // a table row, a note's label.
  for (const text of [
    'Hold the button.\nThen release it.',
    'set grid\nThe grid is drawn.',
    'Syntax:\nSet it so.',
    'The Wi-\nFi settings return.',
    'Done.\nSTATS_max max(y) maximum value\nThe mean.',
    'Done.\nNote\nScans are converted first.',
    'To reset the router:\nUnplug the power cable\nHold the reset button with a pin\nThe lights blink green.',
    'Done.\nUnplug the power cable\nHold the reset button with a pin\nThe lights blink green.',
  ]) {
    assert.ok(!normaliseKeepingHeadings(text).includes('\n'), text);
  }
});

test('chunks keep the page they start on, and empty pages give no chunks', () => {
  const pages = [sentences('Alpha', 60), '', '   \n ', sentences('Delta', 60)];
  const chunks = chunkPages(pages, { ...document, chunkSize: 400, overlap: 80 });
  assert.ok(chunks.length > 4);
  for (const chunk of chunks) {
    const expectedPage = chunk.text.includes('Alpha') ? 1 : 4;
    assert.equal(chunk.page, expectedPage, `chunk "${chunk.text.slice(0, 40)}" is on page ${expectedPage}`);
    assert.equal(chunk.document_id, 'doc-1');
    assert.equal(chunk.document_name, 'manual.pdf');
  }
  assert.deepEqual([...new Set(chunks.map((chunk) => chunk.page))], [1, 4]);
});

test('chunk_index runs from 0 without gaps across pages', () => {
  const chunks = chunkPages([sentences('One', 40), sentences('Two', 40)], { ...document, chunkSize: 300 });
  assert.deepEqual(
    chunks.map((chunk) => chunk.chunk_index),
    chunks.map((_, index) => index),
  );
});

test('chunks respect the size limit and break at sentence ends when one is in reach', () => {
  const chunks = chunkPages([sentences('Gamma', 80)], { ...document, chunkSize: 300, overlap: 60 });
  for (const chunk of chunks) {
    assert.ok(chunk.text.length <= 300, `chunk of ${chunk.text.length} chars exceeds 300`);
  }
  for (const chunk of chunks.slice(0, -1)) {
    assert.ok(chunk.text.endsWith('ends here.'), `"${chunk.text.slice(-30)}" ends mid-sentence`);
  }
});

test('consecutive chunks overlap, and together they cover every sentence', () => {
  const text = sentences('Beta', 50);
  const chunks = chunkPages([text], { ...document, chunkSize: 250, overlap: 100 });
  assert.ok(chunks.length >= 5);
  for (let index = 1; index < chunks.length; index += 1) {
    const previous = chunks[index - 1].text;
    const current = chunks[index].text;
    // The start of each chunk repeats text from the end of the previous one.
    const opening = current.slice(0, 20);
    assert.ok(previous.includes(opening), `chunk ${index} does not overlap the one before it`);
    assert.ok(text.indexOf(current) > text.indexOf(previous), 'chunks advance through the page');
  }
  for (let number = 0; number < 50; number += 1) {
    const sentence = `Beta sentence number ${number} ends here.`;
    assert.ok(
      chunks.some((chunk) => chunk.text.includes(sentence)),
      `sentence ${number} is whole in some chunk`,
    );
  }
});

test('without sentence ends, chunks break between words, never inside one', () => {
  const words = Array.from({ length: 300 }, (_, index) => `word${index}`);
  const chunks = chunkPages([words.join(' ')], { ...document, chunkSize: 120, overlap: 30 });
  const known = new Set(words);
  for (const chunk of chunks) {
    for (const word of chunk.text.split(' ')) {
      assert.ok(known.has(word), `"${word}" is a broken word`);
    }
  }
  assert.ok(chunks.at(-1)?.text.endsWith('word299'));
});

test('a word longer than the chunk size is cut rather than looping forever', () => {
  const chunks = chunkPages(['x'.repeat(2000)], { ...document, chunkSize: 500, overlap: 100 });
  assert.ok(chunks.length >= 4 && chunks.length < 10);
  assert.ok(chunks.every((chunk) => chunk.text.length <= 500));
});

test('no pages, or only blank pages, give no chunks', () => {
  assert.deepEqual(chunkPages([], document), []);
  assert.deepEqual(chunkPages(['', ' \n\t '], document), []);
});

test('invalid sizes are refused', () => {
  assert.throws(() => chunkPages(['text'], { ...document, chunkSize: 0 }), RangeError);
  assert.throws(() => chunkPages(['text'], { ...document, chunkSize: 100, overlap: 100 }), RangeError);
});

test('a code line keeps its line, a tab in place of the space that would join it: the words, the length and the chunk ends stay those of the text without code lines', () => {
  const example = "The basic use of fit is best explained by a simple example:\n    f(x) = a + b*x\n    fit f(x) 'data' via a, b\nThe fit prints the values.";
  assert.equal(
    normaliseKeepingHeadings(example),
    "The basic use of fit is best explained by a simple example:\tf(x) = a + b*x\tfit f(x) 'data' via a, b\nThe fit prints the values.",
  );
  assert.equal(normaliseKeepingHeadings('    plot sin(x)\nDone.'), '\tplot sin(x)\nDone.', 'a first code line has its tab too');

  const code = Array.from({ length: 14 }, (_, index) => `    set style line ${index} lc rgb 'blue' lw ${index}`);
  const page = [sentences('Before', 6), ...code, sentences('After', 6)].join('\n');
  const withoutCodeLines = page.replace(/^ {4}/gm, '');
  const options = { ...document, chunkSize: 240, overlap: 60 };
  const chunks = chunkPages([page], options);
  const plain = chunkPages([withoutCodeLines], options);
  assert.equal(chunks.length, plain.length);
  chunks.forEach((chunk, index) => {
    // A chunk that starts in a code line starts with its tab, one character more.
    const body = chunk.text.replace(/^\t/, '');
    assert.equal(body.length, plain[index].text.length, chunk.text);
    assert.equal(normaliseWhitespace(body), normaliseWhitespace(plain[index].text));
  });
  const inCode = chunks.filter((chunk) => chunk.text.startsWith('\t'));
  assert.ok(inCode.length > 0, 'some chunk starts inside the code block');
  // A chunk may start or end inside a code line (its ends are those of the plain text), but what follows a tab is one code line's text.
  const codeText = code.map((line) => line.trim());
  for (const chunk of chunks) {
    for (const line of chunk.text.split('\t').slice(1)) {
      assert.ok(
        codeText.some((whole) => whole.includes(line.split('\n')[0])),
        JSON.stringify(chunk.text),
      );
    }
  }
});

test('a list item (a bullet or a number first) starts on a line of its own, a line break in place of the joining space', () => {
  assert.equal(
    normaliseKeepingHeadings('R makes use of the following domains.\n• Domain R for the C-level error messages\nfrom the interpreter.\n2. Restart the modem.'),
    'R makes use of the following domains.\n• Domain R for the C-level error messages from the interpreter.\n2. Restart the modem.',
  );
  // A number that only ends a wrapped line's first word is no list item.
  assert.equal(normaliseKeepingHeadings('there is always\n1 dependent variable.'), 'there is always 1 dependent variable.');
});
