/**
 * The classifier and the responder read a bounded part of an email, whatever reached their queue:
 * a message with a 120 KB body (the poller keeps up to 128 KB) is handled in well under a second
 * of model time, and its events say how much the model did not read.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PIPELINE_EVENT } from '../../src/messaging/events.js';
import type { PipelineEvent } from '../../src/pipeline/events.js';
import type { ToSendMessage } from '../../src/pipeline/messages.js';
import { QUEUES } from '../../src/messaging/topology.js';
import { MODEL_INPUT_LIMITS } from '../../src/rag/model-input.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { waitFor } from '../helpers/broker.js';
import { classifyMessage, getMessage, openChannel, respondMessage, waitForSettled, withPipeline, type Pipeline } from '../helpers/pipeline.js';
import { CRAFTED_INPUT_LIMIT_MS } from '../helpers/time-limit.js';
import { toClassify, toRespond } from '../../src/pipeline/stages.js';

const AGENT = 'support@widgets.example';
const QUESTION = makeEmail({
  from: 'jose@mailbox.example',
  to: AGENT,
  subject: 'How do I reset my router admin password?',
  body: 'Hello, how do I reset it?\n',
});
/** A support question followed by a long run of digits, as a crafted or pasted body would be. */
const LONG_BODY = `Hello, I forgot the admin password of my router. How do I reset the password?\n${'1'.repeat(120_000)}`;

/** Collects the events the roles of `pipeline` emit, in this process. */
function recordEvents(pipeline: Pipeline): PipelineEvent[] {
  const events: PipelineEvent[] = [];
  pipeline.worker.broker.on(PIPELINE_EVENT, (event: PipelineEvent) => events.push(event));
  return events;
}

test('the classifier reads the first 32,000 characters of a 120 KB body, quickly, and its event notes the cut', { timeout: 60_000 }, async () => {
  await withPipeline(['classifier'], {}, async (pipeline) => {
    const events = recordEvents(pipeline);
    const message = await classifyMessage(AGENT, QUESTION);
    message.email.body = LONG_BODY;
    await pipeline.worker.broker.publish(toClassify, message);
    const [settled] = await waitForSettled(pipeline, 'classifier', 1);
    assert.equal(settled.status, 'classified');
    const classified = await waitFor(() => events.find((event) => event.stage === 'classified'), { timeoutMs: 10_000, what: 'the classified event' });
    assert.ok(classified);
    assert.ok((classified.duration_ms ?? Infinity) < CRAFTED_INPUT_LIMIT_MS, `classification took ${classified.duration_ms} ms`);
    assert.deepEqual(classified.detail.input_cut, { body: { length: LONG_BODY.length, kept: MODEL_INPUT_LIMITS.body } });
  });
});

test('the responder retrieves and replies from the first part of a 120 KB body and notes the cut', { timeout: 60_000 }, async () => {
  await withPipeline(['responder'], {}, async (pipeline) => {
    const events = recordEvents(pipeline);
    const raw = await openChannel(pipeline);
    try {
      await pipeline.worker.services.vectorStore.upsert(AGENT, [
        {
          document_id: 'manual',
          document_name: 'router-manual.pdf',
          page: 3,
          chunk_index: 0,
          text: 'Reset the admin password: hold the reset button on the back of the router for 10 seconds.',
        },
      ]);
      const message = await respondMessage(AGENT, QUESTION);
      message.email.body = LONG_BODY;
      await pipeline.worker.broker.publish(toRespond, message);
      const { body: reply } = await getMessage<ToSendMessage>(raw.channel, QUEUES.toSend);
      assert.equal(reply.generated_response.handoff, false, JSON.stringify(reply.generated_response.decision));
      assert.match(reply.generated_response.body, /"router-manual\.pdf", page 3/);
      assert.equal(reply.email.body, LONG_BODY, 'the message carries the email as it came; only the model reads less');
      const replied = await waitFor(() => events.find((event) => event.stage === 'replied'), { timeoutMs: 10_000, what: 'the replied event' });
      assert.ok(replied);
      assert.ok((replied.duration_ms ?? Infinity) < CRAFTED_INPUT_LIMIT_MS, `the reply took ${replied.duration_ms} ms`);
      assert.deepEqual(replied.detail.input_cut, { body: { length: LONG_BODY.length, kept: MODEL_INPUT_LIMITS.body } });
    } finally {
      await raw.close();
    }
  });
});
