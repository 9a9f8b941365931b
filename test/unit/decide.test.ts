import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideReply, type DecisionPolicy, type DecisionSignals } from '../../src/rag/decide.js';

const policy: DecisionPolicy = { minClassificationConfidence: 0.7, minRelevance: 0.3, minMargin: 0.05, minCoverage: 0.4, minModelConfidence: 0.6 };
const good: DecisionSignals = {
  relevantPassages: 2,
  topScore: 0.8,
  margin: 0.2,
  coverage: 0.6,
  verdict: { answerable: true, confidence: 0.9, cited: [1] },
  problems: [],
  classification: { confidence: 0.9 },
};

test('a reply passing every signal is sent, with every passed check as its reasons', () => {
  const decision = decideReply(good, policy);
  assert.equal(decision.action, 'send');
  assert.deepEqual(decision.reasons, [
    'classification confidence 0.90 ≥ 0.7',
    'retrieval score 0.80 ≥ 0.3',
    'margin to the next passage 0.20 ≥ 0.05',
    'question covered by the cited passages 0.60 ≥ 0.4',
    'model confidence 0.90 ≥ 0.6',
    'every claim cites a passage that supports it',
  ]);
});

test('nothing relevant, or the model saying the passages do not answer, is a hand-off', () => {
  assert.deepEqual(decideReply({ ...good, relevantPassages: 0 }, policy), { action: 'handoff', reasons: ['nothing relevant in the manuals'] });
  assert.deepEqual(decideReply({ ...good, verdict: { answerable: false, confidence: 0.9, cited: [] } }, policy), {
    action: 'handoff',
    reasons: ['the model says the passages do not answer the question'],
  });
});

test('each failing signal makes a draft and is named with its figure', () => {
  const cases: Array<[Partial<DecisionSignals>, RegExp]> = [
    [{ classification: { confidence: 0.65 } }, /^classification confidence 0\.65 below 0\.7$/],
    [
      { classification: { confidence: 0.9, review_reason: 'language the model cannot judge (ja)' } },
      /^the classifier asks for review: language the model cannot judge \(ja\)$/,
    ],
    [{ topScore: 0.2 }, /^retrieval score 0\.20 below 0\.3$/],
    [{ margin: 0.01 }, /^margin to the next passage 0\.01 below 0\.05$/],
    [{ coverage: 0.1 }, /^question covered by the cited passages 0\.10 below 0\.4$/],
    [{ verdict: { answerable: true, confidence: 0.3, cited: [1] } }, /^model confidence 0\.30 below 0\.6$/],
    [{ problems: ['cites [4], which is not one of the 2 passages given'] }, /^cites \[4\]/],
  ];
  for (const [change, reason] of cases) {
    const decision = decideReply({ ...good, ...change }, policy);
    assert.equal(decision.action, 'draft', JSON.stringify(change));
    assert.equal(decision.reasons.length, 1, decision.reasons.join(' | '));
    assert.match(decision.reasons[0], reason);
  }
});

test('signals an older message lacks are not judged: classification and score alone decide, as before', () => {
  const old = { relevantPassages: 1, topScore: 0.5, classification: { confidence: 0.8 } };
  assert.deepEqual(decideReply(old, policy), { action: 'send', reasons: ['classification confidence 0.80 ≥ 0.7', 'retrieval score 0.50 ≥ 0.3'] });
  assert.equal(decideReply({ ...old, classification: { confidence: 0.4 } }, policy).action, 'draft');
});

test('a reply written by a provider whose replies are drafts (local, SEND_POLICY unset) is a draft; others are not', () => {
  const local = decideReply({ ...good, provider: 'local' }, { ...policy, draftProviders: ['local'] });
  assert.equal(local.action, 'draft');
  assert.match(local.reasons.join(' | '), /written by the local model/);
  assert.equal(decideReply({ ...good, provider: 'gemini' }, { ...policy, draftProviders: ['local'] }).action, 'send');
  assert.equal(decideReply({ ...good, provider: 'local' }, policy).action, 'send');
});
