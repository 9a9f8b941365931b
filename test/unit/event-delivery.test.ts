/**
 * An event off the audit stream is used only when it arrived under the routing key of the stage it
 * claims: the topic permissions bound each role's user to the keys of its own stages, so that key,
 * not the body, says who may have said it. The poller may publish `email.received`; a `sent`,
 * `drafted`, `review_approved` or `document.queued` body under that key is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readEventDelivery } from '../../src/messaging/event-delivery.js';
import { buildEvent, eventRoutingKey } from '../../src/messaging/events.js';

/** A delivery as the stream hands it over: the body and the routing key it was published with. */
const delivery = (body: unknown, routingKey: string) => ({
  content: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  fields: { routingKey, exchange: 'events', deliveryTag: 1, redelivered: false, consumerTag: 'test' },
});

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
    const read = readEventDelivery(delivery(event, key));
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
    const read = readEventDelivery(delivery(event, 'email.received'));
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
  assert.ok('problem' in readEventDelivery(delivery(sent, 'document.sent')));
  assert.ok('problem' in readEventDelivery(delivery(sent, 'events.audit')));
});

test('an unreadable or invalid body is refused with the reason', () => {
  assert.match((readEventDelivery(delivery('{not json', 'email.received')) as { problem: string }).problem, /unreadable event/);
  assert.match((readEventDelivery(delivery({ stage: 'received' }, 'email.received')) as { problem: string }).problem, /does not match its schema/);
});
