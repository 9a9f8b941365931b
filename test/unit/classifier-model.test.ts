/**
 * The committed support model on the committed held-out split (eval/classify/split.tsv), through
 * the poller's parser and the classifier role's input and routing: the figures issue 12 asks for,
 * recomputed from the files in the repository, so a retrained model that misses them fails here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadCorpus } from '../../scripts/classifier-corpus.js';
import { figures, judge } from '../../scripts/classifier-figures.js';
import { supportModel } from '../../src/providers/llm/local-classifier.js';

const corpus = await loadCorpus();
const heldOut = figures(corpus.filter((email) => email.split === 'heldout').map((email) => judge(email)));

test('the corpus holds at least 400 labelled emails and none of the reserved SpamAssassin messages', () => {
  assert.ok(corpus.length >= 400, `${corpus.length} emails`);
  const reserved = readFileSync(new URL('../../../shared/eval/reserved-spamassassin-ids.txt', import.meta.url), 'utf8')
    .split('\n')
    .filter((line) => line.trim() && !line.startsWith('#'))
    .map((line) => `spamassassin:${line.split(/\s+/)[0]}`);
  const ids = new Set(corpus.map((email) => email.id));
  assert.deepEqual(
    reserved.filter((id) => ids.has(id)),
    [],
  );
});

test('of the held-out emails called support at confidence >= 0.9, at least 90 % are support', () => {
  assert.ok(heldOut.confident.count >= 10, `only ${heldOut.confident.count} such emails`);
  assert.ok(heldOut.confident.precision >= 0.9, `${heldOut.confident.support}/${heldOut.confident.count}`);
});

// Issue 12's figures on the committed held-out split (340 emails; EVALUATION.md): accuracy >= 0.90,
// precision for support >= 0.90, recall >= 0.85.
test('held out: accuracy >= 0.90, precision >= 0.90, recall >= 0.85 (issue 12)', () => {
  assert.ok(heldOut.accuracy >= 0.9, `accuracy ${heldOut.accuracy}`);
  assert.ok(heldOut.precision >= 0.9, `precision ${heldOut.precision}`);
  assert.ok(heldOut.recall >= 0.85, `recall ${heldOut.recall}`);
});

test('held out: no spam is answered without review', () => {
  assert.equal(heldOut.spamAnsweredAutomatically, 0);
});

test('the model judges only languages it was trained on, English and the written ones among them', () => {
  for (const language of ['en', 'fr', 'de', 'es', 'it', 'pt', 'ja']) assert.ok(supportModel.languages.includes(language), language);
  assert.ok(!supportModel.languages.includes('ko'));
});
