import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BODY_CUT_NOTE, cutDetail, limitForModel, MODEL_INPUT_LIMITS } from '../../src/rag/model-input.js';

const email = { from: 'Sam <sam@example.net>', subject: 'Router reset', body: 'How do I reset my router?' };

test('an ordinary email reaches the model as it is, with nothing noted as cut', () => {
  const input = limitForModel(email);
  assert.deepEqual(input.email, email);
  assert.deepEqual(input.cut, {});
  assert.deepEqual(cutDetail(input), {});
});

test('a 250 KB body is cut to its first part, with a note the model can read and the lengths noted', () => {
  const body = `How do I reset my router?\n${'1'.repeat(250_000)}`;
  const input = limitForModel({ ...email, body });
  assert.equal(input.email.body, body.slice(0, MODEL_INPUT_LIMITS.body) + BODY_CUT_NOTE);
  assert.ok(input.email.body.startsWith('How do I reset my router?'));
  assert.deepEqual(input.cut, { body: { length: body.length, kept: MODEL_INPUT_LIMITS.body } });
  assert.deepEqual(cutDetail(input), { input_cut: input.cut });
  assert.equal(input.email.subject, email.subject);
});

test('a long subject and sender are cut without a note', () => {
  const input = limitForModel({ from: `x${'y'.repeat(5_000)}@example.net`, subject: 'S'.repeat(5_000), body: 'Hi' });
  assert.equal(input.email.from.length, MODEL_INPUT_LIMITS.from);
  assert.equal(input.email.subject, 'S'.repeat(MODEL_INPUT_LIMITS.subject));
  assert.deepEqual(Object.keys(input.cut).sort(), ['from', 'subject']);
});

test('a cut never splits an emoji into half a character', () => {
  const body = `${'a'.repeat(MODEL_INPUT_LIMITS.body - 1)}😀${'b'.repeat(10)}`;
  const input = limitForModel({ ...email, body });
  assert.equal(input.cut.body?.kept, MODEL_INPUT_LIMITS.body - 1);
  assert.equal(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(input.email.body), false);
});
