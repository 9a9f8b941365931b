/**
 * Stage outcomes, kept by the `events.audit` stream for the activity log, the dashboard and replay.
 * Two ways in:
 * - A stage whose outcome is a hop (`received`, `classified`, `retrieved` + `replied`) rides on the
 *   hop's own message, in the {@link HOP_EVENTS_HEADER} header ({@link publishHop}): the stream is
 *   bound to the hop's exchange and key too (src/messaging/topology.ts), so the one confirmed
 *   publish feeds both the next queue and the stream.
 * - Every other outcome (`sent`, `ignored`, `skipped`, `drafted`, `dead_lettered`, …) is published
 *   on the `events` topic exchange, routing key `<email|document>.<stage>` ({@link publishEvent}).
 */
import { randomUUID } from 'node:crypto';
import type { Broker, PublishOptions } from './broker.js';
import { EXCHANGES } from './topology.js';
import { readEvent } from '../pipeline/event-reading.js';
import type { EmittedEvent, EventEnvelope, EventFields, PipelineEvent } from '../pipeline/events.js';
import type { MessageOf, WorkStage } from '../pipeline/stages.js';

/**
 * Emitted on the Broker with the PipelineEvent once the broker confirmed it, so this process can
 * observe its own stages (metrics) without reading the stream back.
 */
export const PIPELINE_EVENT = 'pipeline_event';

/** What an event has before its publisher fills in the rest. */
const UNSET = { email_id: null, document_id: null, agent_email: null, duration_ms: null, provider: null, model: null, detail: {} } as const;

/** The event a role publishes: its fields as the role gave them, the rest filled in. */
function emittedEvent(role: string, fields: EventFields): EmittedEvent {
  return { timestamp: new Date().toISOString(), role, ...UNSET, ...fields, event_id: fields.event_id ?? randomUUID() };
}

/** Fields of an event of any stage and any detail: an event as an older version, a forger or a test may have written it. */
export type AnyEventFields = Partial<Omit<EventEnvelope, 'role'>> & { stage: string; detail?: Record<string, unknown> };

/**
 * An event built from fields that need not follow {@link EventFields}, read as one off the stream
 * is (src/pipeline/event-reading.ts): for tests of readers, which must cope with partial and
 * forged events. Roles publish with {@link publishEvent}, whose fields are typed by stage.
 */
export function buildEvent(role: string, fields: AnyEventFields): PipelineEvent {
  return readEvent({ timestamp: new Date().toISOString(), role, ...UNSET, ...fields, event_id: fields.event_id ?? randomUUID() });
}

/**
 * The routing key an event is published with on `events`: `<email|document>.<stage>`. The topic
 * permissions of each role's user allow only the keys of its own stages, so a reader that finds an
 * event under its own key knows the stage was said by a role allowed to say it.
 */
export function eventRoutingKey(event: Pick<PipelineEvent, 'stage' | 'email_id' | 'document_id'>): string {
  const subject = event.document_id && !event.email_id ? 'document' : 'email';
  return `${subject}.${event.stage}`;
}

/** Publishes a stage's outcome; `fields.detail` must be what {@link EventFields} says for its stage. */
export async function publishEvent(broker: Broker, role: string, fields: EventFields): Promise<void> {
  await publishEmitted(broker, emittedEvent(role, fields));
}

async function publishEmitted(broker: Broker, event: EmittedEvent): Promise<void> {
  // `events` is a topic exchange, not a work stage: the raw publish, with a body typed above.
  await broker.publishRaw(EXCHANGES.events, eventRoutingKey(event), event, { messageId: event.event_id });
  broker.emit(PIPELINE_EVENT, event);
}

/**
 * Header of a hop message holding the events of the stage that published it: a JSON array of
 * events, read back by src/messaging/event-delivery.ts. JSON in one string rather than an AMQP
 * table: an event read back is exactly the event written (a table has no null, and turns numbers
 * into integers or floats by their value). A hop that is no stage's outcome (a reviewer's approval, a
 * replay from the dead-letter queue or from the stream) has none: the stream keeps it, readers
 * skip it.
 */
export const HOP_EVENTS_HEADER = 'x-ragmail-events';

/**
 * Bytes of {@link HOP_EVENTS_HEADER} above which the events are published on `events` instead. A
 * message's properties travel in one content-header frame, at most frame_max (128 KiB by
 * default); an event is a few KiB (the largest is `replied`, its excerpt cut at 280 characters), so
 * this fallback is for a detail far beyond what roles write, never a failed publish.
 */
export const HOP_EVENTS_HEADER_LIMIT = 64 * 1024;

/**
 * `received.detail.message` is the message of the hop that carries it: the header leaves it out
 * (a whole email, counted twice against the frame), the reader puts the body back.
 */
function withoutHopBody(event: EmittedEvent): EmittedEvent {
  if (event.stage !== 'received') return event;
  const { message: _message, ...detail } = event.detail;
  return { ...event, detail } as EmittedEvent;
}

/**
 * Publishes the next stage's message carrying `events` (the stages `stage.carries` names) in
 * {@link HOP_EVENTS_HEADER}: one confirmed publish for the hop and its events. Each event is stamped
 * when it is built, before the publish (a separate event used to be stamped after the hop's
 * confirm), and emitted as {@link PIPELINE_EVENT} once the broker confirmed the hop.
 */
export async function publishHop<Stage extends WorkStage>(
  broker: Broker,
  role: string,
  stage: Stage,
  message: MessageOf<Stage>,
  events: EventFields[],
  options: PublishOptions = {},
): Promise<void> {
  const emitted = events.map((fields) => emittedEvent(role, fields));
  const foreign = emitted.find((event) => !(stage.carries as readonly string[]).includes(event.stage));
  // Readers would refuse it (src/messaging/event-delivery.ts): a mistake of the caller, said at once.
  if (foreign) throw new Error(`a ${stage.queue} message carries only ${stage.carries.join(', ') || 'no'} events, not ${foreign.stage}`);
  const header = JSON.stringify(emitted.map(withoutHopBody));
  if (Buffer.byteLength(header) > HOP_EVENTS_HEADER_LIMIT) {
    await broker.publish(stage, message, options);
    for (const event of emitted) await publishEmitted(broker, event);
    return;
  }
  await broker.publish(stage, message, { ...options, headers: { ...options.headers, [HOP_EVENTS_HEADER]: header } });
  for (const event of emitted) broker.emit(PIPELINE_EVENT, event);
}
