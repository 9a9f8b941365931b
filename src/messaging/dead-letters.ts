/**
 * The dead-letter tools behind `npm run dlq` (and, later, the dashboard): read `dead_letter_queue`
 * without losing anything, show the runtime's wrapped records (docs/ARCHITECTURE.md#dead-letters) and the messages the
 * broker dead-lettered by itself (TTL expiry, queue limits; unwrapped, with `x-death`) the same
 * way, replay them to their original queue, or purge them. A wrapped record holds the original
 * redacted (src/messaging/dead-letter-record.ts), so its replay carries the redacted text.
 *
 * How the queue is read, and why:
 * - One exclusive consumer on a connection of its own takes every ready message, unacked. A
 *   second dlq command (or any other consumer) is refused with DeadLetterQueueBusyError instead
 *   of seeing an empty queue while the first holds the messages: commands are serialized by the
 *   broker, not by a lock file, and the hold goes away with the connection if the process dies.
 * - What was not selected is nacked back with requeue; a classic queue puts requeued messages back
 *   at their old positions, so order is kept. Closing the channel does the same on a crash. A
 *   quorum queue (QUEUE_TYPE=quorum) may change the order, and counts each nack as a delivery:
 *   hence its delivery limit of none in effect (DEAD_LETTER_QUEUE_DELIVERY_LIMIT).
 * - A replayed entry is acked only after its republish was confirmed: a crash between the two
 *   leaves it in the queue, and a second replay duplicates it. Duplicates are safe (email_id is the
 *   idempotency key downstream); the other order could lose the message.
 * - Purge acks the selected entries rather than purging the queue, so dead letters that arrive
 *   while the command runs are never deleted unseen.
 */
import { createHash } from 'node:crypto';
import amqplib, { type Channel, type ConsumeMessage } from 'amqplib';
import type { Broker } from './broker.js';
import { ATTEMPTS_HEADER, DELIVERIES_HEADER } from './consumer.js';
import { emailIdOf } from './message-body.js';
import { HOP_EVENTS_HEADER, publishEvent } from './events.js';
import { deadLetterSchema, type DeadLetterRecord } from '../pipeline/messages.js';
import { QUEUES, WORK_QUEUES, type WorkQueue } from './topology.js';
import { buildConnectionOptions, type ConnectionSettings } from './connection-options.js';

/** One dead letter, wrapped or broker-dead-lettered, described the same way. */
export interface DeadLetterEntry {
  /** The record's message_id (wrapped), else the AMQP message_id or a content hash; `#2`… on repeats. */
  id: string;
  /** `wrapped`: a record the consumer runtime wrote; `broker`: dead-lettered by RabbitMQ itself. */
  kind: 'wrapped' | 'broker';
  /** The error message (wrapped) or the broker's reason, e.g. `expired`, `maxlen`. */
  reason: string;
  /** The error code (wrapped) or the broker's reason. */
  errorType: string;
  /** The work queue the message failed in; null when unknown. */
  originalQueue: string | null;
  /** Attempts already made before it was dead-lettered. */
  retryCount: number;
  /** When it was dead-lettered (ISO-8601), and how long ago in milliseconds. */
  deadLetteredAt: string | null;
  ageMs: number | null;
  emailId: string | null;
  documentId: string | null;
  /** The message as it was in its work queue: what a replay publishes. */
  originalMessage: unknown;
  /** AMQP message_id and priority a replay publishes with. */
  messageId: string | undefined;
  priority: number | undefined;
  /** The runtime's record, for wrapped entries. */
  record: DeadLetterRecord | null;
  /** Headers of the dead letter as it sits in dead_letter_queue (`x-death` included). */
  headers: Record<string, unknown>;
}

/** Where the dead letters are. */
export interface DeadLetterSource {
  /**
   * The queue is read on a connection of its own to AMQP_URL (the vhost is its path), with the same
   * TLS options as the Broker; with a cluster's `amqpUrls`, to the first node that answers.
   */
  config: ConnectionSettings & { amqpUrls?: string[] };
  /** At most this many entries are read at once (the consumer's prefetch). Default 10 000. */
  limit?: number;
}

/** Replay needs a started Broker too: republishes wait for its confirms and events go through it. */
export interface DeadLetterTarget extends DeadLetterSource {
  broker: Broker;
}

/** What a replay or purge did: entries done, and entries left in the queue with the reason. */
export interface DeadLetterOutcome {
  done: DeadLetterEntry[];
  failed: Array<{ entry: DeadLetterEntry; error: string }>;
}

/** Another consumer (another dlq command?) holds dead_letter_queue. */
export class DeadLetterQueueBusyError extends Error {}

/** Every entry of dead_letter_queue, oldest first; the queue is left exactly as it was. */
export async function listDeadLetters(source: DeadLetterSource): Promise<DeadLetterEntry[]> {
  return withDeadLetters(source, async (held) => held.map(({ entry }) => entry));
}

/**
 * Republishes the original of each selected entry to its work queue's exchange and routing key
 * (WORK_QUEUES: an `emails.to_send` record goes back through `reply_exchange`),
 * persistent and confirmed, with its message_id and priority and no attempts header; records a
 * `dlq`/`replayed` event; then acks the dead letter.
 */
export async function replayDeadLetters(target: DeadLetterTarget, select: (entry: DeadLetterEntry) => boolean): Promise<DeadLetterOutcome> {
  return withDeadLetters(target, async (held, channel) => {
    const outcome: DeadLetterOutcome = { done: [], failed: [] };
    for (const { entry, message } of held.filter(({ entry }) => select(entry))) {
      const destination = workQueueOf(entry.originalQueue);
      const refusal = !destination
        ? `${entry.originalQueue ?? 'an unknown queue'} is not a work queue; nothing to replay to`
        : // Broker.publish sends JSON: a body that was not JSON (or a bare JSON string) cannot go back unchanged.
          (entry.kind === 'wrapped' ? entry.errorType === 'invalid_json' : typeof parseJson(message.content.toString('utf8')) === 'string')
          ? 'the original body is not JSON; it cannot be replayed unchanged'
          : undefined;
      if (refusal || !destination) {
        outcome.failed.push({ entry, error: refusal ?? '' });
        continue;
      }
      try {
        // The original body goes back unchanged, whatever it holds (it failed once): the raw publish.
        await target.broker.publishRaw(destination.exchange, destination.routingKey, entry.originalMessage, {
          messageId: entry.messageId,
          priority: entry.priority,
          headers: replayHeaders(entry),
        });
      } catch (error) {
        outcome.failed.push({ entry, error: (error as Error).message });
        continue;
      }
      // The message is back in its queue whatever happens to the event: ack, so it is not replayed twice.
      await publishEvent(target.broker, 'dlq', {
        stage: 'replayed',
        email_id: entry.emailId,
        document_id: entry.documentId,
        detail: { original_queue: entry.originalQueue, reason: entry.reason, dead_letter_id: entry.id },
      }).catch(() => undefined);
      channel.ack(message);
      outcome.done.push(entry);
    }
    return outcome;
  });
}

/** Deletes the selected entries (acks them); everything else stays. */
export async function purgeDeadLetters(source: DeadLetterSource, select: (entry: DeadLetterEntry) => boolean): Promise<DeadLetterOutcome> {
  return withDeadLetters(source, async (held, channel) => {
    const selected = held.filter(({ entry }) => select(entry));
    for (const { message } of selected) channel.ack(message);
    return { done: selected.map(({ entry }) => entry), failed: [] };
  });
}

/** Selects entries whose reason or error type contains `text`, case-insensitively. */
export function reasonContains(text: string): (entry: DeadLetterEntry) => boolean {
  const wanted = text.toLowerCase();
  return (entry) => entry.reason.toLowerCase().includes(wanted) || entry.errorType.toLowerCase().includes(wanted);
}

interface Held {
  entry: DeadLetterEntry;
  message: ConsumeMessage;
}

/** How long to wait for a missing delivery before taking what came (the queue shrank meanwhile). */
const IDLE_MS = 1_000;

/** Holds every ready dead letter for `action`; whatever it did not ack returns to the queue. */
async function withDeadLetters<T>(source: DeadLetterSource, action: (held: Held[], channel: Channel) => Promise<T>): Promise<T> {
  const limit = source.limit ?? 10_000;
  const connection = await connectToFirstNode(source.config);
  connection.on('error', () => undefined);
  try {
    const channel = await connection.createChannel();
    // A refused consume closes the channel with an error event; the rejected promise reports it.
    channel.on('error', () => undefined);
    const { messageCount } = await channel.checkQueue(QUEUES.deadLetter).catch((error: { code?: number }) => {
      throw error.code === 404 ? new Error(`${QUEUES.deadLetter} does not exist on this vhost; declare the topology first (npm run topology)`) : error;
    });
    await channel.prefetch(limit);
    const messages = await takeAll(channel, Math.min(messageCount, limit));
    const now = Date.now();
    const seen = new Map<string, number>();
    const held = messages.map((message) => {
      const entry = describeDeadLetter(message, now);
      const repeats = (seen.get(entry.id) ?? 0) + 1;
      seen.set(entry.id, repeats);
      if (repeats > 1) entry.id = `${entry.id}#${repeats}`;
      return { entry, message };
    });
    try {
      return await action(held, channel);
    } finally {
      // Everything not acked goes back, in place; a closed channel has returned it already.
      try {
        channel.nackAll(true);
      } catch {
        /* channel closed */
      }
      await channel.close().catch(() => undefined);
    }
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** A connection to the first node of AMQP_URL's list that answers; the last node's error when none does. */
async function connectToFirstNode(config: DeadLetterSource['config']): Promise<amqplib.ChannelModel> {
  const urls = config.amqpUrls && config.amqpUrls.length > 0 ? config.amqpUrls : [config.AMQP_URL];
  let failure: unknown;
  for (const url of urls) {
    try {
      return await amqplib.connect(url, buildConnectionOptions(config, `ragmail dlq ${process.pid}`));
    } catch (error) {
      failure = error;
    }
  }
  throw failure;
}

/** Consumes exclusively until `expected` messages arrived (or deliveries stop), then cancels. */
async function takeAll(channel: Channel, expected: number): Promise<ConsumeMessage[]> {
  const messages: ConsumeMessage[] = [];
  let idle: NodeJS.Timeout | undefined;
  let finish = () => {};
  const complete = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const waitIdle = () => {
    clearTimeout(idle);
    idle = setTimeout(finish, IDLE_MS);
  };
  let consumerTag: string;
  try {
    ({ consumerTag } = await channel.consume(
      QUEUES.deadLetter,
      (message) => {
        if (!message) return finish();
        messages.push(message);
        if (messages.length >= expected) finish();
        else waitIdle();
      },
      { noAck: false, exclusive: true },
    ));
  } catch (error) {
    const code = (error as { code?: number }).code;
    if (code === 403)
      throw new DeadLetterQueueBusyError(`${QUEUES.deadLetter} is in use by another consumer (another dlq command?); try again when it has finished`);
    throw error;
  }
  if (messages.length >= expected) finish();
  else waitIdle();
  await complete;
  clearTimeout(idle);
  await channel.cancel(consumerTag);
  return messages;
}

/** Describes a message of dead_letter_queue, wrapped or not. */
export function describeDeadLetter(message: Pick<ConsumeMessage, 'content' | 'properties'>, now = Date.now()): DeadLetterEntry {
  const headers = (message.properties.headers ?? {}) as Record<string, unknown>;
  const body = parseJson(message.content.toString('utf8'));
  const wrapped = deadLetterSchema.safeParse(body);
  if (wrapped.success) {
    const record = wrapped.data;
    const original = record.original_message;
    // The record keeps the body, not the AMQP properties; producers set both from the body.
    const priority = numberOr(field(original, 'email', 'priority'), undefined);
    return {
      id: record.message_id,
      kind: 'wrapped',
      reason: record.failure_info.error_message,
      errorType: record.failure_info.error_type,
      originalQueue: record.original_queue,
      retryCount: record.failure_info.retry_count,
      ...age(Date.parse(record.timestamp), now),
      ...idsOf(original),
      originalMessage: original,
      messageId: stringOr(field(original, 'message_id'), undefined),
      priority,
      record,
      headers,
    };
  }
  const death = Array.isArray(headers['x-death']) ? (headers['x-death'][0] as Record<string, unknown> | undefined) : undefined;
  const reason = stringOr(death?.reason, stringOr(headers['x-first-death-reason'], 'unknown'));
  const deathTime = death?.time as { value?: unknown } | number | undefined;
  const seconds = typeof deathTime === 'number' ? deathTime : Number(deathTime?.value);
  return {
    id: message.properties.messageId ?? createHash('sha256').update(message.content).digest('hex').slice(0, 16),
    kind: 'broker',
    reason,
    errorType: reason,
    originalQueue: stringOr(death?.queue, stringOr(headers['x-first-death-queue'], null)),
    retryCount: Number(headers[ATTEMPTS_HEADER] ?? 0) || 0,
    ...age(Number.isFinite(seconds) ? seconds * 1000 : NaN, now),
    ...idsOf(body),
    originalMessage: body,
    messageId: message.properties.messageId ?? undefined,
    priority: message.properties.priority ?? undefined,
    record: null,
    headers,
  };
}

/** The work queue a dead letter came from; a wait queue's name leads to its work queue. */
function workQueueOf(queue: string | null): WorkQueue | undefined {
  if (!queue) return undefined;
  return WORK_QUEUES.find((candidate) => candidate.name === queue || queue.startsWith(`${candidate.name}.retry.`));
}

/**
 * The original's own headers: no death history, no attempts or lost deliveries (the replay starts
 * afresh), nothing of ours. Nor the stage's events ({@link HOP_EVENTS_HEADER}): the replay is a hop
 * the audit stream sees again, and its events were said the first time (the activity log would keep
 * one per event_id anyway).
 */
function replayHeaders(entry: DeadLetterEntry): Record<string, unknown> {
  if (entry.kind === 'wrapped') return {};
  return Object.fromEntries(
    Object.entries(entry.headers).filter(
      ([name]) =>
        name !== ATTEMPTS_HEADER &&
        name !== DELIVERIES_HEADER &&
        name !== HOP_EVENTS_HEADER &&
        name !== 'x-death' &&
        !name.startsWith('x-first-death-') &&
        !name.startsWith('x-last-death-'),
    ),
  );
}

function age(at: number, now: number): { deadLetteredAt: string | null; ageMs: number | null } {
  return Number.isFinite(at) ? { deadLetteredAt: new Date(at).toISOString(), ageMs: Math.max(0, now - at) } : { deadLetteredAt: null, ageMs: null };
}

function idsOf(body: unknown): { emailId: string | null; documentId: string | null } {
  return { emailId: emailIdOf(body) ?? stringOr(field(body, 'email_id'), null), documentId: stringOr(field(body, 'document_id'), null) };
}

/** Parsed JSON, or the raw text when the body is not JSON (as the runtime records it). */
function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function field(body: unknown, ...keys: string[]): unknown {
  let current = body;
  for (const key of keys) {
    if (!current || typeof current !== 'object' || !(key in current)) return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}

function stringOr<T>(value: unknown, fallback: T): string | T {
  return typeof value === 'string' ? value : fallback;
}

function numberOr<T>(value: unknown, fallback: T): number | T {
  return typeof value === 'number' ? value : fallback;
}
