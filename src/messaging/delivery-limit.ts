/**
 * The delivery limit. A message that kills or freezes its worker comes back from the broker
 * flagged `redelivered`, again and again: classic queues on RabbitMQ 3.10 keep no delivery count
 * (`x-delivery-limit` is for quorum queues). So the runtime keeps the count in a header of the
 * message itself: a redelivered message is not handled but put back as a copy carrying
 * `x-ragmail-deliveries` + 1 (the copy is a new delivery, not flagged), and once the count reaches
 * MAX_DELIVERIES it is dead-lettered with the reason. Nothing is lost on the way: the original is
 * acked only after the broker confirmed the copy.
 *
 * What counts: every return of a delivery the runtime did not settle. A worker that is killed
 * cannot say which of its prefetched messages it had started, so with a prefetch above the
 * concurrency an unstarted one counts too; a graceful shutdown does know, and hands its unstarted
 * deliveries back as copies with the count unchanged (ConsumerRuntime.stop), so rolling restarts
 * never push a message towards the limit.
 */
import type { ConsumeMessage } from 'amqplib';
import { permanentError, type RagmailError } from '../lib/errors.js';

/** Header carrying how many deliveries of a message ended without an outcome. */
export const DELIVERIES_HEADER = 'x-ragmail-deliveries';

/** The deliveries of a redelivered message that ended without an outcome, this one's predecessor included. */
export function lostDeliveries(message: Pick<ConsumeMessage, 'properties'>): number {
  const previous = Number(message.properties.headers?.[DELIVERIES_HEADER] ?? 0);
  return (Number.isInteger(previous) && previous > 0 ? previous : 0) + 1;
}

/** The error a message is dead-lettered with when it reached the limit; no stack: the cause is not in this code. */
export function deliveryLimitError(lost: number): RagmailError {
  const error = permanentError('delivery_limit_exceeded', `redelivered ${lost} times: its worker died or lost the broker while handling it`);
  error.stack = undefined;
  return error;
}
