import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isQueueStarting, UNRECOVERABLE_REPLY_CODES } from '../../src/messaging/broker.js';

/** A channel error as amqplib raises it for a refused queue.declare. */
const refused = (code: number, text: string) =>
  Object.assign(new Error(`Operation failed: QueueDeclare; ${code} (NOT-FOUND) with message "${text}"`), { code });

test('a 404 for a queue whose node is down, starting or stopping is passing; a missing queue, and the other unrecoverable codes, are not', () => {
  assert.ok(UNRECOVERABLE_REPLY_CODES.has(404));
  // The stream right after a restart, and a queue of a cluster node that is down.
  assert.ok(isQueueStarting(refused(404, "NOT_FOUND - home node 'rabbit@a' of durable queue 'events.audit' in vhost '/' is down or inaccessible")));
  // A classic queue of a cluster node that is stopping (QUEUE_TYPE=classic on a cluster).
  assert.ok(isQueueStarting(refused(404, "NOT_FOUND - queue 'emails.to_classify' in vhost '/' process is stopped by supervisor")));
  assert.equal(isQueueStarting(refused(404, "NOT_FOUND - no queue 'emails.to_classify' in vhost '/'")), false);
  assert.equal(isQueueStarting(refused(406, "PRECONDITION_FAILED - inequivalent arg 'x-queue-type' for queue 'emails.to_classify'")), false);
});
