/**
 * Stage outcomes on the `events` topic exchange (routing key `<email|document>.<stage>`), kept by
 * the `events.audit` stream for the activity log, the dashboard and replay.
 */
import { randomUUID } from 'node:crypto';
import type { Broker } from './broker.js';
import { EXCHANGES } from './topology.js';
import { readEvent } from '../pipeline/event-reading.js';
import type { EmittedEvent, EventEnvelope, EventFields, PipelineEvent } from '../pipeline/events.js';

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
  const event = emittedEvent(role, fields);
  // `events` is a topic exchange, not a work stage: the raw publish, with a body typed above.
  await broker.publishRaw(EXCHANGES.events, eventRoutingKey(event), event, { messageId: event.event_id });
  broker.emit(PIPELINE_EVENT, event);
}
