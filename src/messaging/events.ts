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

export async function publishEvent(broker: Broker, role: string, fields: EventFields): Promise<void> {
  const event = buildEvent(role, fields);
  const subject = event.document_id && !event.email_id ? 'document' : 'email';
  await broker.publish(EXCHANGES.events, `${subject}.${event.stage}`, event, { messageId: event.event_id });
  broker.emit(PIPELINE_EVENT, event);
}
