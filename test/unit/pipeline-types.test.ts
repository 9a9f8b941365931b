/**
 * The pipeline's vocabulary is typed end to end (src/pipeline/): a message published to another
 * stage's queue, a handler put on a queue whose messages it does not read, and an event whose
 * `detail` is not its stage's do not compile. Those checks are the `@ts-expect-error` lines of
 * {@link compileTimeChecks}, which `npm run typecheck` (tsc over src and test, run by CI) verifies:
 * each marked line must fail to compile, or the directive itself is an error. The tests below
 * check how events of any version read back, and that the topology is built from the stages.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { Logger } from '../../src/lib/log.js';
import type { Broker } from '../../src/messaging/broker.js';
import { ConsumerRuntime, type Handler, type HandlerContext, type RuntimeOptions } from '../../src/messaging/consumer.js';
import { publishEvent } from '../../src/messaging/events.js';
import { SPECIFIED_QUEUES, WORK_QUEUES } from '../../src/messaging/topology.js';
import { eventSchema } from '../../src/pipeline/event-reading.js';
import { isStage, type PipelineEvent } from '../../src/pipeline/events.js';
import { toSendSchema, type ToClassifyMessage, type ToSendMessage } from '../../src/pipeline/messages.js';
import { WORK_STAGES, toClassify, toSend } from '../../src/pipeline/stages.js';

/** Never called: type-checked only. */
function compileTimeChecks(
  broker: Broker,
  logger: Logger,
  options: RuntimeOptions,
  emit: HandlerContext['emit'],
  forward: HandlerContext['forward'],
  event: PipelineEvent,
  email: ToClassifyMessage,
  reply: ToSendMessage,
  send: Handler<ToSendMessage>,
): void {
  // A stage's message goes to its own queue...
  void broker.publish(toSend, reply, { priority: reply.email.priority });
  // @ts-expect-error ...and an email waiting for classification cannot be queued for sending.
  void broker.publish(toSend, email);

  // A consumer reads the messages of its stage...
  new ConsumerRuntime({ role: 'sender', stage: toSend, handle: send, concurrency: 1, prefetch: 1 }, broker, logger, options);
  // @ts-expect-error ...and the sender's handler cannot be put on the classifier's queue, whose messages carry no reply.
  new ConsumerRuntime({ role: 'sender', stage: toClassify, handle: send, concurrency: 1, prefetch: 1 }, broker, logger, options);

  // An event's detail is its stage's...
  void emit({ stage: 'retrieved', email_id: 'a@x', detail: { top_score: 0.8, chunks: [{ source: 'manual.pdf', page: 3, score: 0.8 }] } });
  // @ts-expect-error ...a score is a number...
  void emit({ stage: 'retrieved', email_id: 'a@x', detail: { top_score: 'high', chunks: [] } });
  // @ts-expect-error ...a dead-lettered event names its queue...
  void publishEvent(broker, 'sender', { stage: 'dead_lettered', email_id: 'a@x', detail: { error_message: 'boom', error_type: 'Error', retry_count: 0 } });
  // @ts-expect-error ...one stage's detail does not pass for another's...
  void emit({ stage: 'ingested', document_id: 'doc-1', detail: { pages_done: 1, pages_total: 2, filename: 'manual.pdf' } });
  // @ts-expect-error ...and a stage must be one of the pipeline's.
  void emit({ stage: 'escalated', email_id: 'a@x', detail: {} });

  // A hop carries its stage's events with the next stage's message...
  void forward(toSend, reply, [
    { stage: 'replied', email_id: 'a@x', detail: { handoff: false, decision: reply.generated_response.decision!, excerpt: '', citations: [] } },
  ]);
  // @ts-expect-error ...which must be of that stage...
  void forward(toSend, email, []);
  // @ts-expect-error ...and the events it carries are typed as emitted ones.
  void forward(toSend, reply, [{ stage: 'replied', email_id: 'a@x', detail: { handoff: 'no' } }]);

  // Read back, a known stage's fields are typed, and optional: an older event may lack one.
  if (isStage(event, 'retrieved')) {
    const score: number | undefined = event.detail.top_score;
    // @ts-expect-error a field read back may be absent, so it is not a plain number.
    const certain: number = event.detail.top_score;
    void [score, certain];
  }
}

test('npm run typecheck covers the test files, so the compile-time checks of this file run in CI', () => {
  assert.equal(typeof compileTimeChecks, 'function');
  const config = JSON.parse(readFileSync(new URL('../../tsconfig.json', import.meta.url), 'utf8')) as { include: string[] };
  assert.ok(config.include.includes('test'), `tsconfig.json includes ${JSON.stringify(config.include)}`);
  const scripts = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> }).scripts;
  assert.match(scripts.typecheck ?? '', /\btsc\b.*--noEmit/);
});

test("the topology declares one work queue per stage, fed by the stage's exchange and routing key", () => {
  assert.deepEqual(
    WORK_QUEUES.map(({ name, exchange, routingKey, deadLetterRoutingKey }) => [name, exchange, routingKey, deadLetterRoutingKey]),
    WORK_STAGES.map((stage) => [stage.queue, stage.exchange, stage.routingKey, stage.deadLetterRoutingKey]),
  );
  for (const stage of WORK_STAGES) {
    const declared = SPECIFIED_QUEUES.find((queue) => queue.name === stage.queue);
    assert.ok(declared, `${stage.queue} is declared`);
    assert.deepEqual(declared.bindings, [{ exchange: stage.exchange, routingKey: stage.routingKey }]);
    assert.equal(declared.arguments['x-dead-letter-routing-key'], stage.deadLetterRoutingKey);
  }
  assert.equal(toSend.schema, toSendSchema);
});

const envelope = { event_id: 'e-1', timestamp: '2026-01-01T00:00:00.000Z', role: 'sender', email_id: 'a@x' };

test('an event of a stage this version does not know reads as it came (replay of older streams)', () => {
  const event = eventSchema.parse({ ...envelope, stage: 'escalated', detail: { to: 'tier-2', mode: 5 } });
  assert.equal(event.stage, 'escalated');
  assert.deepEqual(event.detail, { to: 'tier-2', mode: 5 });
  assert.equal(isStage(event, 'sent', 'drafted'), false);
});

test('a known stage reads field by field: older shapes pass, a mistyped field reads as absent, the rest is kept in order', () => {
  const older = eventSchema.parse({ ...envelope, stage: 'retrieved', detail: { top_score: 0.4, chunks: 3 } });
  assert.ok(isStage(older, 'retrieved'));
  assert.equal(older.detail.chunks, 3);

  const odd = eventSchema.parse({ ...envelope, stage: 'sent', detail: { provider_id: 'p-1', mode: 5, message_id: '<m@x>', note: 'kept' } });
  assert.ok(isStage(odd, 'sent'));
  assert.equal(odd.detail.mode, undefined);
  assert.equal(odd.detail.message_id, '<m@x>');
  assert.deepEqual(Object.keys(odd.detail), ['provider_id', 'mode', 'message_id', 'note']);
  assert.equal(JSON.stringify(odd.detail), '{"provider_id":"p-1","message_id":"<m@x>","note":"kept"}');

  const cited = eventSchema.parse({ ...envelope, stage: 'replied', detail: { handoff: false, citations: [{ source: 'a.pdf', page: 'two' }, { page: 1 }] } });
  assert.ok(isStage(cited, 'replied'));
  assert.deepEqual(cited.detail.citations, [{ source: 'a.pdf', page: null }], 'a citation without a source is dropped, a page that is no number is null');
});

test('an event as a role emits it reads back unchanged', () => {
  const detail = {
    mode: 'review',
    reason: 'review mode',
    provider_id: 'd-1',
    message_id: '<r@x>',
    draft_removed: null,
    replay: { replay_id: 'r-1', shadow: true },
  };
  const event = eventSchema.parse({ ...envelope, stage: 'drafted', detail });
  assert.deepEqual(event.detail, detail);
  assert.equal(JSON.stringify(event.detail), JSON.stringify(detail));
});
