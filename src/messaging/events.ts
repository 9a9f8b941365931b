/**
 * Stage outcomes on the `events` topic exchange (routing key `<email|document>.<stage>`), kept by
 * the `events.audit` stream for the activity log, the dashboard and replay.
 */
import { randomUUID } from 'node:crypto';
import type { Broker } from './broker.js';
import { EXCHANGES } from './topology.js';
import type { PipelineEvent } from './schemas.js';

/**
 * What a role says about a stage; the rest of the event is filled in here. `timestamp` defaults to
 * now; give it when the stage happened earlier than its event is published (a decision recorded
 * before the work it started), so timelines read in the order things happened. `event_id`
 * defaults to a new id; give one of your own making (the same on every try of the same outcome)
 * to say an outcome again that may or may not have been said: the activity log keeps one per id.
 */
export type EventFields = Partial<Omit<PipelineEvent, 'role'>> & { stage: string };

/**
 * Emitted on the Broker with the PipelineEvent once the broker confirmed it, so this process can
 * observe its own stages (metrics) without reading the stream back.
 */
export const PIPELINE_EVENT = 'pipeline_event';

export function buildEvent(role: string, { event_id: eventId, ...fields }: EventFields): PipelineEvent {
  return {
    event_id: eventId ?? randomUUID(),
    timestamp: new Date().toISOString(),
    role,
    email_id: null,
    document_id: null,
    agent_email: null,
    duration_ms: null,
    provider: null,
    model: null,
    detail: {},
    ...fields,
  };
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

export async function publishEvent(broker: Broker, role: string, fields: EventFields): Promise<void> {
  const event = buildEvent(role, fields);
  await broker.publish(EXCHANGES.events, eventRoutingKey(event), event, { messageId: event.event_id });
  broker.emit(PIPELINE_EVENT, event);
}
