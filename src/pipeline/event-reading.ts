/**
 * Reading events back (the audit stream, a replay of it, the activity log). The stream keeps events
 * of every version that wrote to it, and any role may publish any body (what vouches for an event's
 * stage is its routing key, src/messaging/event-delivery.ts), so nothing here rejects an event for
 * its detail:
 *
 * - a known stage's detail is read field by field (src/pipeline/detail-readers.ts): each field the readers
 *   use is typed and optional, and one of the wrong type reads as absent (as the readers' own checks
 *   did before these types); fields not listed are kept as they came;
 * - a stage this version does not know parses as an {@link OtherStageEvent}, detail untouched, so
 *   older (or newer) events are recorded and replayed as before.
 */
import { z } from 'zod';
import { DETAIL_READERS } from './detail-readers.js';
import type { KnownEvent, OtherStageEvent, PipelineEvent, StageName } from './events.js';

/** The event body on the wire, before its detail is read: the same for every stage and version. */
const envelopeSchema = z.object({
  event_id: z.string(),
  timestamp: z.string(),
  /** e.g. received, skipped, classified, ignored, retrieved, replied, sent, drafted, handed_off, dead_lettered, ingested */
  stage: z.string(),
  email_id: z.string().nullable().default(null),
  document_id: z.string().nullable().default(null),
  agent_email: z.string().nullable().default(null),
  role: z.string(),
  duration_ms: z.number().nullable().default(null),
  provider: z.string().nullable().default(null),
  model: z.string().nullable().default(null),
  detail: z.record(z.string(), z.unknown()).default({}),
});

/**
 * The typed view of an event whose envelope is known good: a known stage gets its detail read by
 * {@link DETAIL_READERS} (key order kept), any other stays an {@link OtherStageEvent}.
 */
export function readEvent(event: OtherStageEvent): PipelineEvent {
  if (!Object.hasOwn(DETAIL_READERS, event.stage)) return event;
  const read = DETAIL_READERS[event.stage as StageName].parse(event.detail);
  // The reader is the one of `event.stage`: the detail is that stage's, which TypeScript cannot follow through the lookup.
  return { ...event, detail: { ...event.detail, ...read } } as KnownEvent;
}

/** Stage outcome published to the `events` topic exchange; parses every event {@link readEvent} can read. */
export const eventSchema = envelopeSchema.transform(readEvent);
