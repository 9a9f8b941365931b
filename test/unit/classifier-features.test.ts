/**
 * The words the support classifier reads (src/classify/features.ts): text written without spaces
 * becomes overlapping pairs of characters — whole characters, as the full-text index pairs them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { featuresOf } from '../../src/classify/features.js';

const email = (subject: string, body: string) => ({ from: 'customer@example.jp', subject, body });
/** A lone UTF-16 surrogate: half of a character outside the Basic Multilingual Plane. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

test('a CJK character outside the BMP (𠮷) is paired whole, never split into surrogates', () => {
  const features = featuresOf(email('𠮷野家の予約', '𠮷野家の予約を変更できますか'));
  assert.ok(features.includes('𠮷野'), features.join(' '));
  assert.ok(features.includes('subject:𠮷野'));
  assert.deepEqual(
    features.filter((feature) => LONE_SURROGATE.test(feature)),
    [],
  );
});

test('a katakana word keeps its length mark: パスワード gives ワー and ード', () => {
  const features = featuresOf(email('ログインできません', 'パスワードを忘れました'));
  for (const pair of ['パス', 'スワ', 'ワー', 'ード', 'ドを']) assert.ok(features.includes(pair), `${pair} in ${features.join(' ')}`);
});

test('words of a spaced script are read whole', () => {
  const features = featuresOf(email('Printer', 'My printer will not print'));
  for (const word of ['printer', 'will', 'not', 'print', 'will not']) assert.ok(features.includes(word), word);
});

test('a request that opens a thread carries its structure: [first message asks], [problem words], [asks for help]', () => {
  const features = featuresOf(
    email('xine fails', 'Playing a DVD fails with "a52_block error". Any ideas how to fix it?\n\n' + 'a52_block error\n'.repeat(200)),
  );
  for (const feature of ['[first message asks]', '[problem words]', '[asks for help]']) assert.ok(features.includes(feature), feature);
});

test('a question in a reply is no [first message asks]; an announcement has no [problem words]', () => {
  const reply = featuresOf({ ...email('Re: xine fails', 'Which version do you run?'), is_reply: true });
  assert.ok(reply.includes('[question mark]'));
  assert.ok(!reply.includes('[first message asks]'));
  assert.ok(!featuresOf(email('Version 2.4', 'Version 2.4 is out with dark mode and faster search.')).includes('[problem words]'));
});
