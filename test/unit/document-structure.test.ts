import { test } from 'node:test';
import assert from 'node:assert/strict';
import { splitSections, stripRunningLines } from '../../src/rag/document-structure.js';
import { chunkPages } from '../../src/rag/chunking.js';

const topics = ['routers', 'cables', 'antennas', 'firmware', 'passwords', 'warranty', 'lights', 'fans', 'ports', 'mounting'];
const body = (page: number) => `Page ${page} is about ${topics[page % 10]}.\nWhat to know of ${topics[page % 10]}: nothing yet.`;

test('running headers and footers (the same line on most pages, page numbers aside) are removed, the body stays', () => {
  const pages = Array.from({ length: 10 }, (_, index) => {
    const page = index + 1;
    return `${page % 2 ? `Router Manual 2.1 ${page}` : `${page} Router Manual 2.1`}\n${body(page)}\nAcme Corp. confidential - page ${page} of 10`;
  });
  const stripped = stripRunningLines(pages);
  stripped.forEach((text, index) => assert.equal(text, body(index + 1)));
});

test('a line repeated on only a few pages, or in the middle of pages, is kept', () => {
  const pages = Array.from({ length: 40 }, (_, index) => `${index < 2 ? 'Warning\n' : ''}${body(index)}\nSyntax:\n${body(index)}`);
  const stripped = stripRunningLines(pages);
  assert.match(stripped[0], /^Warning\n/);
  assert.ok(stripped.every((text) => text.includes('Syntax:')));
});

const outline = [
  { title: 'Setup', path: ['Setup'] },
  { title: 'Examples', path: ['Setup', 'Examples'] },
  { title: 'Reset', path: ['Reset'] },
  { title: 'Examples', path: ['Reset', 'Examples'] },
];

test('pages are cut at outline headings found in order, run-in headings included, and a section continues over a page break', () => {
  const pages = [
    'Contents\nSetup . . . . 2\nReset 3',
    'Setup\nPlug it in.\nExamples\nplug router',
    'more examples\nReset Hold the button for ten seconds.',
    'Examples\nreset now',
  ];
  const sections = splitSections(pages, outline).map((parts) => parts.map((part) => [part.section?.join(' > '), part.text.trim()]));
  assert.deepEqual(sections, [
    [[undefined, 'Contents\nSetup . . . . 2\nReset 3']],
    [
      ['Setup', 'Setup\nPlug it in.'],
      ['Setup > Examples', 'Examples\nplug router'],
    ],
    [
      ['Setup > Examples', 'more examples'],
      ['Reset', 'Reset Hold the button for ten seconds.'],
    ],
    [['Reset > Examples', 'Examples\nreset now']],
  ]);
});

test('chunks carry their section and the document title, and never span two sections', () => {
  const chunks = chunkPages(['Setup\nPlug it in.\nReset\nHold the button.'], {
    documentId: 'd',
    documentName: 'd.pdf',
    documentTitle: 'Router handbook',
    outline,
  });
  assert.deepEqual(
    chunks.map(({ text, section, document_title }) => ({ text, section, document_title })),
    [
      { text: 'Setup\nPlug it in.', section: 'Setup', document_title: 'Router handbook' },
      { text: 'Reset\nHold the button.', section: 'Reset', document_title: 'Router handbook' },
    ],
  );
});
