/**
 * The broker topology of docs/ARCHITECTURE.md#topology as data, in one place, plus the delayed-retry wait queues,
 * their retry exchanges, the audit stream and the reply exchange (the send hop's own) this design
 * adds. `declareTopology` asserts all of it
 * (idempotent); it runs at boot and on every reconnect.
 */
import type { Channel } from 'amqplib';
import { FAILURE_ROUTING_KEYS, WORK_EXCHANGES, WORK_STAGES, toClassify, toIngest, toRespond, toSend } from '../pipeline/stages.js';

export const EXCHANGES = {
  email: WORK_EXCHANGES.email,
  /**
   * The last hop, into `emails.to_send`: an exchange of its own so that only the responder and the
   * api may write it (write permission is per exchange, not per routing key; with `send` on
   * `email_exchange`, the poller's credentials could queue any recipient and body for sending).
   */
  reply: WORK_EXCHANGES.reply,
  document: WORK_EXCHANGES.document,
  deadLetter: 'dead_letter_exchange',
  events: 'events',
} as const;

/** Work queues by stage (src/pipeline/stages.ts), and the queues of failures and events. */
export const QUEUES = {
  toClassify: toClassify.queue,
  toRespond: toRespond.queue,
  toSend: toSend.queue,
  toIngest: toIngest.queue,
  deadLetter: 'dead_letter_queue',
  audit: 'events.audit',
} as const;

export const ROUTING_KEYS = {
  classify: toClassify.routingKey,
  respond: toRespond.routingKey,
  send: toSend.routingKey,
  ingest: toIngest.routingKey,
  failedEmails: FAILURE_ROUTING_KEYS.emails,
  failedDocuments: FAILURE_ROUTING_KEYS.documents,
} as const;

export type QueueArguments = Record<string, string | number>;

export interface ExchangeSpec {
  name: string;
  type: 'direct' | 'topic';
}

export interface QueueSpec {
  name: string;
  arguments: QueueArguments;
  bindings: Array<{ exchange: string; routingKey: string }>;
}

/** A work queue: consumed by a role, retried through wait queues, dead-lettered with a key. */
export interface WorkQueue {
  name: string;
  exchange: string;
  routingKey: string;
  /** Routing key on `dead_letter_exchange` for this queue's failures. */
  deadLetterRoutingKey: string;
}

/** The work queues, one per stage of src/pipeline/stages.ts. */
export const WORK_QUEUES: WorkQueue[] = WORK_STAGES.map(({ queue, exchange, routingKey, deadLetterRoutingKey }) => ({
  name: queue,
  exchange,
  routingKey,
  deadLetterRoutingKey,
}));

const deadLetterTo = (routingKey: string): QueueArguments => ({
  'x-dead-letter-exchange': EXCHANGES.deadLetter,
  'x-dead-letter-routing-key': routingKey,
});

/** The exchanges and queues of docs/ARCHITECTURE.md#topology, names and arguments exact; `emails.to_send` is fed by `reply_exchange`. */
export const SPECIFIED_EXCHANGES: ExchangeSpec[] = [
  { name: EXCHANGES.email, type: 'direct' },
  { name: EXCHANGES.reply, type: 'direct' },
  { name: EXCHANGES.document, type: 'direct' },
  { name: EXCHANGES.deadLetter, type: 'direct' },
];

export const SPECIFIED_QUEUES: QueueSpec[] = [
  {
    name: QUEUES.toClassify,
    arguments: { 'x-max-priority': 10, 'x-message-ttl': 3_600_000, ...deadLetterTo(ROUTING_KEYS.failedEmails) },
    bindings: [{ exchange: EXCHANGES.email, routingKey: ROUTING_KEYS.classify }],
  },
  {
    name: QUEUES.toRespond,
    arguments: { 'x-message-ttl': 7_200_000, ...deadLetterTo(ROUTING_KEYS.failedEmails) },
    bindings: [{ exchange: EXCHANGES.email, routingKey: ROUTING_KEYS.respond }],
  },
  {
    name: QUEUES.toSend,
    arguments: { 'x-message-ttl': 3_600_000, ...deadLetterTo(ROUTING_KEYS.failedEmails) },
    bindings: [{ exchange: EXCHANGES.reply, routingKey: ROUTING_KEYS.send }],
  },
  {
    name: QUEUES.toIngest,
    arguments: { 'x-message-ttl': 1_800_000, ...deadLetterTo(ROUTING_KEYS.failedDocuments) },
    bindings: [{ exchange: EXCHANGES.document, routingKey: ROUTING_KEYS.ingest }],
  },
  {
    name: QUEUES.deadLetter,
    arguments: {},
    bindings: [
      { exchange: EXCHANGES.deadLetter, routingKey: ROUTING_KEYS.failedEmails },
      { exchange: EXCHANGES.deadLetter, routingKey: ROUTING_KEYS.failedDocuments },
    ],
  },
];

/** A binding of `queue` to `exchange` with `routingKey`. */
export interface BindingSpec {
  queue: string;
  exchange: string;
  routingKey: string;
}

/**
 * Bindings of earlier versions that must not outlive an upgrade: `email_exchange --send-->
 * emails.to_send` let every writer of `email_exchange` (the poller included) queue a reply for
 * sending. Declaring the new topology does not remove a binding, so declaring unbinds these.
 */
export const RETIRED_BINDINGS: BindingSpec[] = [{ queue: QUEUES.toSend, exchange: EXCHANGES.email, routingKey: ROUTING_KEYS.send }];

/**
 * The exchange a work queue's runtime publishes retries to: its wait queues are bound to it by
 * delay, and the work queue itself by {@link REQUEUE_ROUTING_KEY}. One per work queue, so a role
 * needs write on its own retry exchange only, never on the default exchange (which reaches every
 * queue by name).
 */
export function retryExchangeName(queue: string): string {
  return `${queue}.retry`;
}

/** Routing key of the wait queue with this delay on its retry exchange. */
export function waitRoutingKey(delayMs: number): string {
  return `${delayMs}ms`;
}

/** Routing key on a retry exchange that leads straight back to the work queue, with no delay. */
export const REQUEUE_ROUTING_KEY = 'requeue';

/**
 * What feeds the audit stream: every event on `events`, and the hops that carry their stage's events
 * (src/pipeline/stages.ts `carries`, src/messaging/events.ts `publishHop`): `email_exchange`
 * `classify` and `respond`, `reply_exchange` `send`. The stream keeps each hop whole, body
 * included (the email, and for `send` the reply and its passages). Retry copies go to the retry
 * exchanges and back through the default exchange, dead letters to `dead_letter_exchange`: none of
 * them reaches the stream. Bindings are additive: an existing vhost takes them at the next boot.
 */
export const AUDIT_BINDINGS: Array<{ exchange: string; routingKey: string }> = [
  { exchange: EXCHANGES.events, routingKey: '#' },
  ...WORK_STAGES.filter((stage) => stage.carries.length > 0).map(({ exchange, routingKey }) => ({ exchange, routingKey })),
];

/**
 * `classic` (the default): single-node classic queues, `emails.to_classify` with 10 priorities.
 * `quorum`: every queue but the audit stream is a replicated quorum queue, for a cluster
 * ({@link asQuorumQueue}).
 */
export type QueueType = 'classic' | 'quorum';

/**
 * `x-delivery-limit` of the quorum queues: returns of one copy of a message (a worker that died or
 * lost its channel, a nack) before the broker dead-letters it by itself. The runtime counts lost
 * deliveries itself and dead-letters at MAX_DELIVERIES with its failure record
 * (src/messaging/delivery-limit.ts): it puts a redelivered message back as a new copy, whose
 * broker count starts again at 0, so a copy's count passes 1 only when the runtime could not
 * republish it (the broker refusing publishes, a worker killed again within the same moment). This
 * limit is the backstop for that loop, above anything the runtime's own count reaches, and a
 * constant: a queue's arguments cannot change, so tying it to MAX_DELIVERIES would turn a
 * setting change into a TopologyMismatchError. (RabbitMQ 4 gives quorum queues a default of 20;
 * this states it on 3.10 too.)
 */
export const QUORUM_DELIVERY_LIMIT = 20;

/**
 * `x-delivery-limit` of a quorum `dead_letter_queue`: in effect none. `npm run dlq` reads the queue
 * by taking every message and nacking back what it did not act on (src/messaging/dead-letters.ts),
 * and on a quorum queue every nack counts a delivery; with RabbitMQ 4's default limit of 20 the
 * twentieth `dlq list` would drop the records (the queue has no dead-letter exchange of its own).
 * Not `-1`: RabbitMQ 3.10 reads that as "dead-letter on the first return".
 */
export const DEAD_LETTER_QUEUE_DELIVERY_LIMIT = 1_000_000_000;

/**
 * The quorum queue for a queue of the classic topology:
 * - `x-queue-type quorum`: replicated on the cluster's nodes (RabbitMQ's default group size), led
 *   by one; a consumer or publisher on any node keeps working when the leader's node goes.
 * - `x-max-priority` dropped: RabbitMQ 3.10 refuses it on a quorum queue (406). RabbitMQ 4 quorum
 *   queues have two priorities without any argument (5-255 before 0-4), so on 4.x the poller's
 *   priorities still put urgent mail first, in two levels instead of ten; on 3.10 the queue is FIFO.
 *   `emails.to_classify` is a quorum queue all the same: a classic queue in a cluster lives on one
 *   node, and while that node is down RabbitMQ confirms a publish routed to it and drops the
 *   message (measured on 3.10.8 with three private nodes: confirmed, and not in the queue when
 *   the node was back), and cancels its consumers: email would be lost.
 * - `x-delivery-limit` ({@link QUORUM_DELIVERY_LIMIT}, {@link DEAD_LETTER_QUEUE_DELIVERY_LIMIT}).
 * - On a queue with a dead-letter exchange: `x-dead-letter-strategy at-least-once` (which needs
 *   `x-overflow reject-publish`; no length limit is set, so nothing is ever rejected). The runtime
 *   dead-letters a failure itself, publishing its record to `dead_letter_exchange` with a confirm
 *   and acking afterwards, so these arguments never touch that record. They are for what the broker
 *   dead-letters by itself: a message whose TTL expired, one over the delivery limit, and a wait
 *   queue's message going back to its work queue (through the default exchange). With the
 *   default `at-most-once` such a message is dropped when its target cannot take it (its leader
 *   away); with `at-least-once` the source queue keeps it until the target confirmed it.
 */
export function asQuorumQueue(queue: QueueSpec): QueueSpec {
  const { 'x-max-priority': _priority, ...kept } = queue.arguments;
  const deadLettering: QueueArguments = 'x-dead-letter-exchange' in kept ? { 'x-dead-letter-strategy': 'at-least-once', 'x-overflow': 'reject-publish' } : {};
  const deliveryLimit = queue.name === QUEUES.deadLetter ? DEAD_LETTER_QUEUE_DELIVERY_LIMIT : QUORUM_DELIVERY_LIMIT;
  return { ...queue, arguments: { 'x-queue-type': 'quorum', ...kept, ...deadLettering, 'x-delivery-limit': deliveryLimit } };
}

export interface TopologyOptions {
  /** Attempts per message; there is one wait queue per retry (attempts - 1). */
  maxAttempts: number;
  /** Delay before the second attempt; each later wait queue doubles it. */
  retryBaseDelayMs: number;
  /** Retention of the audit stream, e.g. `7D`. */
  eventsMaxAge: string;
  /** QUEUE_TYPE; default `classic`. */
  queueType?: QueueType;
}

export interface Topology {
  exchanges: ExchangeSpec[];
  queues: QueueSpec[];
  /** Bindings removed when the topology is declared ({@link RETIRED_BINDINGS}). */
  retiredBindings: BindingSpec[];
}

/** The delay before attempt `attempt + 1`, after `attempt` failed attempts (1-based). */
export function retryDelayMs(options: Pick<TopologyOptions, 'retryBaseDelayMs'>, attempt: number): number {
  return options.retryBaseDelayMs * 2 ** (attempt - 1);
}

/** Name of the wait queue that holds a message of `queue` before attempt `attempt + 1`. */
export function waitQueueName(queue: string, delayMs: number): string {
  return `${queue}.retry.${delayMs}ms`;
}

/**
 * Wait queues: a message published to the retry exchange sits there for the queue's TTL, then the
 * broker dead-letters it through the default exchange straight back to its work queue (the broker
 * does that itself: no user needs write on the default exchange). No plugin, nothing lost when idle.
 */
export function waitQueues(options: TopologyOptions): QueueSpec[] {
  return WORK_QUEUES.flatMap((workQueue) =>
    Array.from({ length: Math.max(0, options.maxAttempts - 1) }, (_, index) => {
      const delay = retryDelayMs(options, index + 1);
      return {
        name: waitQueueName(workQueue.name, delay),
        arguments: { 'x-message-ttl': delay, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': workQueue.name },
        bindings: [{ exchange: retryExchangeName(workQueue.name), routingKey: waitRoutingKey(delay) }],
      };
    }),
  );
}

/**
 * Everything a process declares at boot. The retry exchanges and their bindings came after the
 * first deployments: declaring them is additive (no queue changes its arguments), so an existing
 * vhost takes them with the next `npm run topology`.
 */
export function buildTopology(options: TopologyOptions): Topology {
  const requeueBinding = (queue: QueueSpec) =>
    WORK_QUEUES.some((work) => work.name === queue.name) ? [{ exchange: retryExchangeName(queue.name), routingKey: REQUEUE_ROUTING_KEY }] : [];
  const ofType = (queue: QueueSpec) => (options.queueType === 'quorum' ? asQuorumQueue(queue) : queue);
  return {
    exchanges: [
      ...SPECIFIED_EXCHANGES,
      ...WORK_QUEUES.map((queue): ExchangeSpec => ({ name: retryExchangeName(queue.name), type: 'direct' })),
      { name: EXCHANGES.events, type: 'topic' },
    ],
    queues: [
      ...SPECIFIED_QUEUES.map((queue) => ofType({ ...queue, bindings: [...queue.bindings, ...requeueBinding(queue)] })),
      // Quorum too: a retry waiting on a node that goes down would wait until it is back, and one
      // published meanwhile to a classic wait queue there would be dropped.
      ...waitQueues(options).map(ofType),
      {
        name: QUEUES.audit,
        arguments: { 'x-queue-type': 'stream', 'x-max-age': options.eventsMaxAge },
        bindings: AUDIT_BINDINGS,
      },
    ],
    retiredBindings: RETIRED_BINDINGS,
  };
}

/**
 * Asserts every exchange, queue and binding, then removes the retired bindings (`queue.unbind` of a
 * binding that is not there succeeds, so this is idempotent too). Throws the broker's error (406 on
 * a mismatch).
 */
export async function declareTopology(channel: Channel, topology: Topology): Promise<void> {
  for (const exchange of topology.exchanges) {
    await channel.assertExchange(exchange.name, exchange.type, { durable: true });
  }
  for (const queue of topology.queues) await declareQueue(channel, queue);
  for (const binding of topology.retiredBindings) {
    await channel.unbindQueue(binding.queue, binding.exchange, binding.routingKey);
  }
}

/** Asserts one queue with its arguments and its bindings (their exchanges must exist). */
export async function declareQueue(channel: Channel, queue: QueueSpec): Promise<void> {
  await channel.assertQueue(queue.name, { durable: true, arguments: queue.arguments });
  for (const binding of queue.bindings) {
    await channel.bindQueue(queue.name, binding.exchange, binding.routingKey);
  }
}
