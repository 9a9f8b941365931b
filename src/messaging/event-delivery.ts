/**
 * Reading an event off the `events.audit` stream. What an event body says about itself (its stage,
 * its role) is only a claim: any role may publish to `events`. What bounds it is the routing key
 * the broker accepted it under, which each role's topic permissions restrict to its own stages
 * (rabbitmq/definitions.json). So an event is used only when it arrived under the key of the stage
 * it claims; the poller's `email.received` carrying a `sent` body is refused.
 */
import type { ConsumeMessage } from 'amqplib';
import { eventRoutingKey } from './events.js';
import { eventSchema } from '../pipeline/event-reading.js';
import type { PipelineEvent } from '../pipeline/events.js';

/** An event whose delivery vouches for its stage, or why it is not used. */
export type ReadEvent = { event: PipelineEvent } | { problem: string; event_id?: string };

/**
 * The event of a stream delivery, when its body is a valid event published under the routing key
 * of its own stage (`fields.routingKey`, which a stream keeps for every message).
 */
export function readEventDelivery(message: Pick<ConsumeMessage, 'content' | 'fields'>): ReadEvent {
  let body: unknown;
  try {
    body = JSON.parse(message.content.toString('utf8'));
  } catch (error) {
    return { problem: `unreadable event: ${(error as Error).message}` };
  }
  const parsed = eventSchema.safeParse(body);
  if (!parsed.success) return { problem: `event does not match its schema: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
  const event = parsed.data;
  const expected = eventRoutingKey(event);
  if (message.fields.routingKey !== expected) {
    return {
      problem: `event claims stage ${JSON.stringify(event.stage)} (routing key ${expected}) but was published as ${JSON.stringify(message.fields.routingKey)}`,
      event_id: event.event_id,
    };
  }
  return { event };
}
