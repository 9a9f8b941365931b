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
