/**
 * Reading the events of a delivery off the `events.audit` stream: the one reader of the recorder
 * and of replay. What an event says about itself (its stage, its role) is only a claim. What
 * bounds it is where the broker accepted it, which a stream keeps for every message
 * (`fields.exchange`, `fields.routingKey` and the headers come back to an AMQP 0-9-1 stream
 * consumer as published; test/integration/hop-events.test.ts checks it on the real broker):
 *
 * - On `events`, the routing key of the stage it claims: each role's topic permissions restrict it
 *   to its own stages (rabbitmq/definitions.json), so the poller's `email.received` carrying a
 *   `sent` body is refused.
 * - On a hop (a work stage's exchange and key, src/pipeline/stages.ts), only the stages that hop
 *   carries: `email_exchange`/`classify` vouches for `received`, `email_exchange`/`respond` for
 *   `classified`, `reply_exchange`/`send` for `retrieved` and `replied`. Write permission there
 *   is per exchange (topic permissions do not apply to a direct exchange): the writers of
 *   `email_exchange` (poller, classifier, api) can each put either of its two stages, but no writer
 *   can put on a hop a stage that is not a hop's (`sent`, `drafted`, `review_approved`, …); those
 *   stay on `events` under their topic permissions.
 */
import type { ConsumeMessage } from 'amqplib';
import { HOP_EVENTS_HEADER, eventRoutingKey } from './events.js';
import { eventSchema } from '../pipeline/event-reading.js';
import type { PipelineEvent } from '../pipeline/events.js';
import { WORK_STAGES, type WorkStage } from '../pipeline/stages.js';

/** An event whose delivery vouches for its stage, or why it is not used. */
export type ReadEvent = { event: PipelineEvent } | { problem: string; event_id?: string };

/** What of a stream delivery the reader looks at. */
export type StreamDelivery = Pick<ConsumeMessage, 'content' | 'fields'> & { properties: { headers?: Record<string, unknown> } };

/**
 * The events of a stream delivery, each either vouched for by where the broker accepted it or
 * refused with the reason. An event of `events` gives one; a hop gives the events of its header,
 * none when it has no header (a reviewer's approval, a replay: no stage's outcome, nothing to say).
 */
export function readEventDelivery(message: StreamDelivery): ReadEvent[] {
  const { exchange, routingKey } = message.fields;
  const hop = WORK_STAGES.find((stage) => stage.exchange === exchange && stage.routingKey === routingKey);
  return hop ? readHop(message, hop) : [readPublishedEvent(message.content, routingKey)];
}

/** The event of a body published on `events` (or, refused, anywhere else but a hop). */
function readPublishedEvent(content: Buffer, routingKey: string): ReadEvent {
  const body = parseJson(content);
  if ('problem' in body) return { problem: `unreadable event: ${body.problem}` };
  const read = checked(body.value);
  if ('problem' in read) return read;
  const expected = eventRoutingKey(read.event);
  if (routingKey !== expected) {
    return {
      problem: `event claims stage ${JSON.stringify(read.event.stage)} (routing key ${expected}) but was published as ${JSON.stringify(routingKey)}`,
      event_id: read.event.event_id,
    };
  }
  return read;
}

/** The events in a hop's {@link HOP_EVENTS_HEADER}, each of a stage the hop carries. */
function readHop(message: StreamDelivery, hop: WorkStage): ReadEvent[] {
  const header = message.properties.headers?.[HOP_EVENTS_HEADER];
  if (header === undefined || header === null) return [];
  const parsed = parseJson(Buffer.isBuffer(header) ? header : Buffer.from(String(header)));
  if ('problem' in parsed) return [{ problem: `unreadable ${HOP_EVENTS_HEADER} header: ${parsed.problem}` }];
  if (!Array.isArray(parsed.value)) return [{ problem: `${HOP_EVENTS_HEADER} header is not a list of events` }];
  const where = `${hop.exchange}/${hop.routingKey}`;
  return parsed.value.map((body: unknown): ReadEvent => {
    const read = checked(body);
    if ('problem' in read) return read;
    const { event } = read;
    const key = eventRoutingKey(event);
    if (!hop.carries.some((stage) => `email.${stage}` === key)) {
      return {
        problem: `event claims stage ${JSON.stringify(event.stage)} (routing key ${key}) but came with a hop on ${where}, which carries only ${hop.carries.join(', ') || 'none'}`,
        event_id: event.event_id,
      };
    }
    if (event.stage !== 'received') return read;
    // The header leaves out `received.detail.message`: it is the hop's body (src/messaging/events.ts).
    const hopBody = parseJson(message.content);
    if ('problem' in hopBody) return { problem: `unreadable body of the hop carrying received: ${hopBody.problem}`, event_id: event.event_id };
    return checked({ ...event, detail: { ...event.detail, message: hopBody.value } });
  });
}

function parseJson(content: Buffer): { value: unknown } | { problem: string } {
  try {
    return { value: JSON.parse(content.toString('utf8')) as unknown };
  } catch (error) {
    return { problem: (error as Error).message };
  }
}

function checked(body: unknown): { event: PipelineEvent } | { problem: string } {
  const parsed = eventSchema.safeParse(body);
  return parsed.success ? { event: parsed.data } : { problem: `event does not match its schema: ${parsed.error.issues[0]?.message ?? 'invalid'}` };
}
