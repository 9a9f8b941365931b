/**
 * The work stages of the pipeline, each defined once as a value that binds its queue, the exchange
 * and routing key that feed it, the routing key its failures are dead-lettered with, and the schema
 * of its messages (inngest's `eventType(name, { schema })`). The broker's `publish(stage, message)`
 * and the consumer runtime take these values, so a message of one stage cannot be published to, or
 * consumed from, the queue of another without a compile error; the topology's work queues are
 * built from them (src/messaging/topology.ts).
 */
import type { z } from 'zod';
import type { StageName } from './events.js';
import { toClassifySchema, toIngestSchema, toRespondSchema, toSendSchema } from './messages.js';

/** The exchanges that feed work queues. */
export const WORK_EXCHANGES = {
  email: 'email_exchange',
  /** The send hop's own exchange (why: src/messaging/topology.ts, `EXCHANGES.reply`). */
  reply: 'reply_exchange',
  document: 'document_exchange',
} as const;

/** Routing keys on `dead_letter_exchange`, one per kind of work. */
export const FAILURE_ROUTING_KEYS = {
  emails: 'failed_emails',
  documents: 'failed_documents',
} as const;

/** A work queue and the messages it carries. */
export interface WorkStage<Message = unknown> {
  /** The queue a role consumes. */
  readonly queue: string;
  /** The exchange a stage's messages are published to ... */
  readonly exchange: string;
  /** ... with this routing key, which binds the exchange to {@link queue}. */
  readonly routingKey: string;
  /** Routing key on `dead_letter_exchange` for this queue's failures. */
  readonly deadLetterRoutingKey: string;
  /** Validates every message at the consumer's door; its output is the handler's message type. */
  readonly schema: z.ZodType<Message>;
  /**
   * The events a message of this stage carries to the audit stream (header `x-ragmail-events`,
   * src/messaging/events.ts): the stages of the role that publishes it, which need no publish of
   * their own. The stream is bound to the stage's exchange and key when this is not empty, and a
   * reader trusts a hop's event only for these stages (src/messaging/event-delivery.ts).
   */
  readonly carries: readonly StageName[];
}

/** The message type of a stage: what its schema gives the handler, and what a publisher must send. */
export type MessageOf<Stage extends WorkStage> = z.output<Stage['schema']>;

/** Defines a stage; the names keep their literal types, so the topology's tables stay exact. */
export function stage<const Definition extends WorkStage>(definition: Definition): Readonly<Definition> {
  return Object.freeze(definition);
}

/** The poller's emails, waiting for the classifier. */
export const toClassify = stage({
  queue: 'emails.to_classify',
  exchange: WORK_EXCHANGES.email,
  routingKey: 'classify',
  deadLetterRoutingKey: FAILURE_ROUTING_KEYS.emails,
  schema: toClassifySchema,
  carries: ['received'],
});

/** Support inquiries with their classification, waiting for the responder. */
export const toRespond = stage({
  queue: 'emails.to_respond',
  exchange: WORK_EXCHANGES.email,
  routingKey: 'respond',
  deadLetterRoutingKey: FAILURE_ROUTING_KEYS.emails,
  schema: toRespondSchema,
  carries: ['classified'],
});

/** Generated replies (or a reviewer's approved one), waiting for the sender. */
export const toSend = stage({
  queue: 'emails.to_send',
  exchange: WORK_EXCHANGES.reply,
  routingKey: 'send',
  deadLetterRoutingKey: FAILURE_ROUTING_KEYS.emails,
  schema: toSendSchema,
  carries: ['retrieved', 'replied'],
});

/** Uploaded documents, waiting for the ingester. */
export const toIngest = stage({
  queue: 'documents.to_ingest',
  exchange: WORK_EXCHANGES.document,
  routingKey: 'ingest',
  deadLetterRoutingKey: FAILURE_ROUTING_KEYS.documents,
  schema: toIngestSchema,
  carries: [],
});

/** Every work stage, in the order of the flow. */
export const WORK_STAGES = [toClassify, toRespond, toSend, toIngest] as const;
