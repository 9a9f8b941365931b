/**
 * An event off the audit stream is used only when it arrived under the routing key of the stage it
 * claims: the topic permissions bound each role's user to the keys of its own stages, so that key,
 * not the body, says who may have said it. The poller may publish `email.received`; a `sent`,
 * `drafted`, `review_approved` or `document.queued` body under that key is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readEventDelivery } from '../../src/messaging/event-delivery.js';
import { HOP_EVENTS_HEADER, buildEvent, eventRoutingKey } from '../../src/messaging/events.js';

/** A delivery as the stream hands it over: the body, the exchange and routing key it was published with, its headers. */
const delivery = (body: unknown, routingKey: string, exchange = 'events', headers: Record<string, unknown> = {}) => ({
  content: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  fields: { routingKey, exchange, deliveryTag: 1, redelivered: false, consumerTag: 'test' },
  properties: { headers: { 'x-stream-offset': 7, ...headers } },
});

/** The one event a delivery on `events` gives. */
const readOne = (message: ReturnType<typeof delivery>) => {
  const read = readEventDelivery(message);
  assert.equal(read.length, 1);
  return read[0]!;
};

test('an event under the routing key of its own stage is read; the key is <email|document>.<stage>', () => {
  const cases: Array<[ReturnType<typeof buildEvent>, string]> = [
    [buildEvent('poller', { stage: 'received', email_id: 'a@x' }), 'email.received'],
    [buildEvent('sender', { stage: 'sent', email_id: 'a@x' }), 'email.sent'],
    [buildEvent('upload', { stage: 'queued', document_id: 'doc-1' }), 'document.queued'],
    [buildEvent('sender', { stage: 'dead_lettered', email_id: 'a@x', document_id: 'doc-1' }), 'email.dead_lettered'],
    [buildEvent('replay', { stage: 'replay_started' }), 'email.replay_started'],
  ];
  for (const [event, key] of cases) {
    assert.equal(eventRoutingKey(event), key);
    const read = readOne(delivery(event, key));
    assert.ok('event' in read, `${key}: ${'problem' in read ? read.problem : ''}`);
    assert.equal(read.event.event_id, event.event_id);
  }
});

test('a body claiming another stage than its routing key is refused with the reason, whatever role it names', () => {
  const forged = [
    buildEvent('sender', { stage: 'sent', email_id: 'a@x' }),
    buildEvent('sender', { stage: 'drafted', email_id: 'a@x' }),
    buildEvent('api', { stage: 'review_approved', email_id: 'a@x', detail: { by: 'admin', body: 'PAY HERE' } }),
    buildEvent('upload', { stage: 'queued', document_id: 'doc-1', detail: { path: '/srv/uploads' } }),
  ];
  for (const event of forged) {
    const read = readOne(delivery(event, 'email.received'));
    assert.ok('problem' in read, `${event.stage} under email.received must be refused`);
    assert.equal(read.event_id, event.event_id);
    assert.match(
      read.problem,
      new RegExp(`claims stage "${event.stage}" \\(routing key ${eventRoutingKey(event).replace('.', '\\.')}\\) but was published as "email\\.received"`),
    );
  }
  // The subject counts too: an email event under the document key of the same stage, and a message put
  // straight into the stream through the default exchange (its key is the stream's name).
  const sent = buildEvent('sender', { stage: 'sent', email_id: 'a@x' });
  assert.ok('problem' in readOne(delivery(sent, 'document.sent')));
  assert.ok('problem' in readOne(delivery(sent, 'events.audit', '')));
});

test('an unreadable or invalid body is refused with the reason', () => {
  assert.match((readOne(delivery('{not json', 'email.received')) as { problem: string }).problem, /unreadable event/);
  assert.match((readOne(delivery({ stage: 'received' }, 'email.received')) as { problem: string }).problem, /does not match its schema/);
});

/** A hop's header as src/messaging/events.ts writes it: a JSON list of events. */
const carrying = (...events: unknown[]) => ({ [HOP_EVENTS_HEADER]: JSON.stringify(events) });

test("a hop's events are read when the hop carries their stage; received gets the hop's body back as detail.message", () => {
  const message = { message_id: 'm-1', timestamp: '2026-01-01T00:00:00.000Z', original_message_id: null, email: { email_id: 'a@x' } };
  const received = buildEvent('poller', { stage: 'received', email_id: 'a@x', detail: { from: 'c@y', subject: 'Help' } });
  const [read, ...rest] = readEventDelivery(delivery(message, 'classify', 'email_exchange', carrying(received)));
  assert.equal(rest.length, 0);
  assert.ok(read && 'event' in read, read && 'problem' in read ? read.problem : 'nothing read');
  assert.equal(read.event.event_id, received.event_id);
  assert.deepEqual(read.event.detail.message, message);
  assert.equal(read.event.detail.subject, 'Help');

  const classified = buildEvent('classifier', { stage: 'classified', email_id: 'a@x', detail: { category: 'technical_support' } });
  const respond = readEventDelivery(delivery({ large: 'body' }, 'respond', 'email_exchange', carrying(classified)));
  assert.deepEqual(
    respond.map((one) => ('event' in one ? one.event.stage : one.problem)),
    ['classified'],
  );
  const retrieved = buildEvent('responder', { stage: 'retrieved', email_id: 'a@x', detail: { top_score: 0.9 } });
  const replied = buildEvent('responder', { stage: 'replied', email_id: 'a@x', detail: { excerpt: 'Hello' } });
  const send = readEventDelivery(delivery({ large: 'body' }, 'send', 'reply_exchange', carrying(retrieved, replied)));
  assert.deepEqual(
    send.map((one) => ('event' in one ? one.event.event_id : one.problem)),
    [retrieved.event_id, replied.event_id],
  );
});

test('a hop without the events header (an approval, a replay) is no event: nothing read, nothing refused', () => {
  assert.deepEqual(readEventDelivery(delivery({ message_id: 'm-1' }, 'send', 'reply_exchange')), []);
  assert.deepEqual(readEventDelivery(delivery({ message_id: 'm-1' }, 'classify', 'email_exchange')), []);
});

test('a hop whose header claims a stage that hop does not carry is refused with the reason', () => {
  const cases: Array<[ReturnType<typeof buildEvent>, string, string]> = [
    [buildEvent('sender', { stage: 'sent', email_id: 'a@x' }), 'email_exchange', 'classify'],
    [buildEvent('sender', { stage: 'drafted', email_id: 'a@x' }), 'reply_exchange', 'send'],
    [buildEvent('api', { stage: 'review_approved', email_id: 'a@x', detail: { by: 'admin', body: 'PAY HERE' } }), 'email_exchange', 'respond'],
    [buildEvent('classifier', { stage: 'classified', email_id: 'a@x' }), 'email_exchange', 'classify'],
    [buildEvent('poller', { stage: 'received', email_id: 'a@x' }), 'reply_exchange', 'send'],
    // The subject counts: a document event of a carried stage is not the hop's.
    [buildEvent('poller', { stage: 'received', document_id: 'doc-1' }), 'email_exchange', 'classify'],
  ];
  for (const [event, exchange, key] of cases) {
    const read = readEventDelivery(delivery({ message_id: 'm-1' }, key, exchange, carrying(event)));
    assert.equal(read.length, 1);
    const [only] = read;
    assert.ok(only && 'problem' in only, `${event.stage} on ${exchange}/${key} must be refused`);
    assert.equal(only.event_id, event.event_id);
    assert.match(only.problem, new RegExp(`claims stage "${event.stage}" .* but came with a hop on ${exchange}/${key}, which carries only`));
  }
  // One forged event next to a genuine one: the genuine one is read, the other refused.
  const replied = buildEvent('responder', { stage: 'replied', email_id: 'a@x' });
  const sent = buildEvent('responder', { stage: 'sent', email_id: 'a@x' });
  const mixed = readEventDelivery(delivery({}, 'send', 'reply_exchange', carrying(replied, sent)));
  assert.deepEqual(
    mixed.map((one) => ('event' in one ? one.event.stage : `refused ${one.event_id}`)),
    ['replied', `refused ${sent.event_id}`],
  );
  // A work queue's key on another exchange is no hop: the body is read as an event and its key checked.
  assert.ok('problem' in readOne(delivery(replied, 'send', 'email_exchange')));
});

test('an unreadable events header or one that is not a list is refused', () => {
  assert.match(
    (readEventDelivery(delivery({}, 'classify', 'email_exchange', { [HOP_EVENTS_HEADER]: '{not json' }))[0] as { problem: string }).problem,
    /unreadable x-ragmail-events header/,
  );
  assert.match(
    (readEventDelivery(delivery({}, 'classify', 'email_exchange', { [HOP_EVENTS_HEADER]: '{}' }))[0] as { problem: string }).problem,
    /not a list of events/,
  );
});
