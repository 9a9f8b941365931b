/**
 * The broker connection: amqp-connection-manager with exponential reconnect backoff, the topology
 * asserted on every (re)connect, publishes that always wait for the broker's confirm, and consumers
 * that come back after a reconnect or after the broker cancelled them.
 */
import { EventEmitter } from 'node:events';
import { randomUUID } from 'node:crypto';
import amqpConnectionManager, { type AmqpConnectionManager, type ChannelWrapper } from 'amqp-connection-manager';
import type { Channel, ConfirmChannel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../lib/log.js';
import { transientError } from '../lib/errors.js';
import { buildTopology, declareQueue, declareTopology, type QueueType, type Topology } from './topology.js';
import type { MessageOf, WorkStage } from '../pipeline/stages.js';
import { TopologyMismatchError, describeTopologyMismatch } from './topology-mismatch.js';
import { buildConnectionOptions, type ConnectionSettings } from './connection-options.js';
import { describeConnectionFailure, explainVhostRefusal } from './connection-failure.js';
import type { ManagementTarget } from './management.js';

/**
 * Broker reply codes that a reconnect cannot cure: the same request would fail again.
 * 403 ACCESS_REFUSED (credentials, permissions), 404 NOT_FOUND (vhost, queue),
 * 406 PRECONDITION_FAILED (a queue exists with other arguments), 530 NOT_ALLOWED (vhost).
 */
export const UNRECOVERABLE_REPLY_CODES = new Set([403, 404, 406, 530]);

export interface PublishOptions {
  /** AMQP `message_id`; defaults to the body's `message_id`, else a new UUID. */
  messageId?: string;
  priority?: number;
  headers?: Record<string, unknown>;
  /** Per-message TTL in milliseconds. */
  expirationMs?: number;
}

/** A running consumer; `cancel` stops deliveries, `close` returns unacknowledged messages. */
export interface ConsumerHandle {
  cancel(): Promise<void>;
  close(): Promise<void>;
  /** Stops deliveries and keeps the channel, so deliveries being handled can still be settled. */
  pause(): Promise<void>;
  /** Starts deliveries again on the same channel, with this prefetch from now on. */
  resume(prefetch: number): Promise<void>;
}

export type DeliveryHandler = (message: ConsumeMessage, channel: Channel) => void;

/** Emitted by a {@link Broker} with `{ queue }` each time the broker cancels one of its consumers. */
export const CONSUMER_CANCELLED = 'consumer_cancelled';

/**
 * Consumer channels that have closed. A delivery can only be acked on the channel it came on; once
 * that channel is gone the broker has put the message back in the queue by itself, so whatever
 * the runtime would publish for it (a retry copy, a dead-letter record) would be a second copy.
 */
const closedChannels = new WeakSet<Channel>();

/** False once `channel` (a consumer channel of {@link Broker.consume}) has closed, its deliveries returned to the queue. */
export function isChannelOpen(channel: Channel): boolean {
  return !closedChannels.has(channel);
}

/**
 * The settings a broker connection is made from (the variables of the same names, docs/ARCHITECTURE.md#topology);
 * the composition root passes its configuration, which holds them.
 */
export interface BrokerSettings extends ConnectionSettings, ManagementTarget {
  /**
   * Every node of a cluster, in order (AMQP_URL's comma-separated list); default `[AMQP_URL]`. The
   * connection tries them in turn: after a lost connection the next one first, so a worker whose
   * node went away reconnects to a surviving one.
   */
  amqpUrls?: string[];
  /** QUEUE_TYPE: `classic` (default) or `quorum` queues (src/messaging/topology.ts). */
  QUEUE_TYPE?: QueueType;
  AMQP_HEARTBEAT_SECONDS: number;
  AMQP_RECONNECT_MIN_MS: number;
  AMQP_RECONNECT_MAX_MS: number;
  AMQP_CONNECT_TIMEOUT_MS: number;
  /** `declare` asserts the topology at boot, `verify` only checks that it exists. */
  AMQP_TOPOLOGY: 'declare' | 'verify';
  PUBLISH_TIMEOUT_MS: number;
  PUBLISH_BUFFER_LIMIT: number;
  MAX_ATTEMPTS: number;
  RETRY_BASE_DELAY_MS: number;
  EVENTS_MAX_AGE: string;
}

export class Broker extends EventEmitter {
  readonly topology: Topology;
  private readonly manager: AmqpConnectionManager;
  private readonly publisher: ChannelWrapper;
  private readonly consumers = new Set<ChannelWrapper>();
  /** Consumers the broker cancelled that do not consume again yet, each `{ queue }`. */
  private readonly resubscribing = new Set<{ queue: string }>();
  /** Consumers asked for that have not consumed yet (their channel's first setup still to run). */
  private readonly notYetConsuming = new Set<{ queue: string }>();
  private pendingPublishes = 0;
  private topologyAsserted = false;
  /** Whether a connection was ever made: a refusal is fatal only before. */
  private connectedOnce = false;
  private closed = false;
  /** Why the last connection attempt failed, for the boot timeout's message. */
  private lastConnectFailure?: string;

  constructor(
    private readonly config: BrokerSettings,
    private readonly logger: Logger,
  ) {
    super();
    this.topology = buildTopology({
      maxAttempts: config.MAX_ATTEMPTS,
      retryBaseDelayMs: config.RETRY_BASE_DELAY_MS,
      eventsMaxAge: config.EVENTS_MAX_AGE,
      queueType: config.QUEUE_TYPE ?? 'classic',
    });
    this.manager = amqpConnectionManager.connect(this.urls, {
      heartbeatIntervalInSeconds: config.AMQP_HEARTBEAT_SECONDS,
      reconnectTimeInSeconds: config.AMQP_RECONNECT_MIN_MS / 1000,
      // TLS files are read (and checked) here: a wrong one stops the boot with the variable's name.
      connectionOptions: buildConnectionOptions(config, `ragmail ${logger.defaultMeta?.role ?? ''} ${process.pid}`),
    });
    this.manager.on('connect', ({ url }) => {
      this.connectedOnce = true;
      this.manager.reconnectTimeInSeconds = config.AMQP_RECONNECT_MIN_MS / 1000;
      this.logger.info('broker connected', this.urls.length > 1 && typeof url === 'string' ? { node: redactUrl(url) } : {});
    });
    this.manager.on('disconnect', ({ err }) => {
      this.topologyAsserted = false;
      if (!this.closed) this.logger.warn('broker connection lost, reconnecting', { reason: err?.message });
      this.backOff();
    });
    this.manager.on('connectFailed', ({ err, url }) => {
      const failure = describeConnectionFailure(typeof url === 'string' ? url : config.AMQP_URL, err);
      this.lastConnectFailure = failure?.message ?? err?.message;
      // A fatal failure is logged once, as the error that stops the process.
      this.logger.warn('broker connection failed', {
        reason: err?.message,
        hint: failure?.fatal ? undefined : failure?.message,
        retry_in_ms: Math.round(this.manager.reconnectTimeInSeconds * 1000),
      });
      this.backOff();
      // Only at boot: once connected, a refusal is what a restarting broker, a recovering vhost or a
      // connection limit also answer for a while, so a reconnect keeps trying.
      if (this.connectedOnce) return;
      if (failure?.vhostRefused) {
        explainVhostRefusal(failure, config).then(
          (explained) => this.fail(new Error(explained.message)),
          () => this.fail(new Error(failure.message)),
        );
      } else if (failure?.fatal) this.fail(new Error(failure.message));
    });
    this.manager.on('blocked', ({ reason }) => this.logger.warn('broker blocked publishing', { reason }));
    this.publisher = this.manager.createChannel({
      name: 'publisher',
      confirm: true,
      publishTimeout: config.PUBLISH_TIMEOUT_MS,
      setup: (channel: ConfirmChannel) => this.assertTopology(channel),
    });
    this.publisher.on('error', (error) => this.logger.error('publisher channel error', { error: error.message }));
  }

  /** The nodes to connect to, in order. */
  private get urls(): string[] {
    return this.config.amqpUrls && this.config.amqpUrls.length > 0 ? this.config.amqpUrls : [this.config.AMQP_URL];
  }

  /** Connected and topology asserted on the current connection. */
  get ready(): boolean {
    return this.manager.isConnected() && this.topologyAsserted;
  }

  /** The queues with a consumer the broker cancelled that does not consume again yet (for `/readyz`). */
  get cancelledQueues(): string[] {
    return [...new Set([...this.resubscribing].map((subscription) => subscription.queue))];
  }

  /** The queues with a consumer asked for that has not consumed yet, at boot or after a pause began before it could (for `/readyz`). */
  get subscribingQueues(): string[] {
    return [...new Set([...this.notYetConsuming].map((subscription) => subscription.queue))];
  }

  /** Resolves once connected with the topology asserted; rejects on a fatal error or timeout. */
  async start(): Promise<void> {
    if (this.ready) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        cleanup();
        const last = this.lastConnectFailure ? `; last failure: ${this.lastConnectFailure}` : '';
        reject(
          new Error(
            `No RabbitMQ answered at ${this.urls.map(redactUrl).join(', ')} within ${this.config.AMQP_CONNECT_TIMEOUT_MS} ms (AMQP_URL, AMQP_CONNECT_TIMEOUT_MS)${last}`,
          ),
        );
      }, this.config.AMQP_CONNECT_TIMEOUT_MS);
      const onReady = () => {
        cleanup();
        resolve();
      };
      const onFatal = (error: Error) => {
        cleanup();
        reject(error);
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.off('topology', onReady);
        this.off('fatal', onFatal);
      };
      this.on('topology', onReady);
      this.on('fatal', onFatal);
    });
  }

  /**
   * Publishes a message of a work stage to its exchange with its routing key (src/pipeline/stages.ts):
   * the message's type is the stage's, so it cannot go to the queue of another stage. Confirmed as
   * {@link publishRaw} is.
   */
  async publish<Stage extends WorkStage>(stage: Stage, message: MessageOf<Stage>, options: PublishOptions = {}): Promise<void> {
    await this.publishRaw(stage.exchange, stage.routingKey, message, options);
  }

  /**
   * Publishes a JSON body (a Buffer goes out byte for byte: a copy of a delivery), persistent, and
   * resolves when the broker confirmed it. Rejects (never drops silently) when the confirm does
   * not come in time or the offline buffer is full.
   *
   * Untyped, for what is not a stage's message: events, dead-letter records, and bodies that must
   * go back unchanged (a delivery's copy, a dead letter's original, a test's invalid body).
   * A stage's message goes through {@link publish}.
   */
  async publishRaw(exchange: string, routingKey: string, body: unknown, options: PublishOptions = {}): Promise<void> {
    if (this.closed) throw transientError('broker_closed', 'publish after the broker connection was closed');
    if (this.pendingPublishes >= this.config.PUBLISH_BUFFER_LIMIT) {
      throw transientError('publish_buffer_full', `${this.pendingPublishes} publishes are waiting for the broker (PUBLISH_BUFFER_LIMIT); refusing more`);
    }
    const content = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    const bodyId =
      typeof body === 'object' && body !== null && !Buffer.isBuffer(body) && 'message_id' in body
        ? String((body as { message_id: unknown }).message_id)
        : undefined;
    this.pendingPublishes += 1;
    try {
      await this.publisher.publish(exchange, routingKey, content, {
        persistent: true,
        contentType: 'application/json',
        messageId: options.messageId ?? bodyId ?? randomUUID(),
        timestamp: Math.floor(Date.now() / 1000),
        priority: options.priority,
        headers: options.headers,
        expiration: options.expirationMs === undefined ? undefined : String(Math.max(0, Math.round(options.expirationMs))),
      });
    } catch (error) {
      throw transientError('publish_unconfirmed', `publish to ${exchange || '(default)'}/${routingKey} was not confirmed: ${(error as Error).message}`, error);
    } finally {
      this.pendingPublishes -= 1;
    }
  }

  /** Publishes straight to a queue through the default exchange. */
  async sendToQueue(queue: string, body: unknown, options: PublishOptions = {}): Promise<void> {
    await this.publishRaw('', queue, body, options);
  }

  /**
   * Consumes a queue with manual acks on a channel of its own. After a reconnect the consumer is set
   * up again; each delivery comes with the channel it arrived on, so it is acked there or not at all.
   *
   * The broker cancels a consumer (basic.cancel; amqplib hands the callback `null`) when its queue is
   * deleted or the queue's node is lost, and the connection stays up: nothing else would then bring
   * the consumer back (the channel's setup runs on a reconnect only). So a cancel is logged,
   * emitted as {@link CONSUMER_CANCELLED}, reported by {@link cancelledQueues}, and the consumer
   * subscribes again with the reconnect's backoff (AMQP_RECONNECT_MIN_MS doubling up to
   * AMQP_RECONNECT_MAX_MS), the queue declared again first as the topology has it (checked, with
   * AMQP_TOPOLOGY=verify), so a deleted queue comes back with its arguments and bindings.
   */
  consume(
    queue: string,
    prefetch: number,
    onDelivery: DeliveryHandler,
    consumeArguments?: () => Record<string, unknown> | Promise<Record<string, unknown>>,
  ): ConsumerHandle {
    let active: { channel: Channel; consumerTag: string } | undefined;
    let cancelled = false;
    let paused = false;
    let currentPrefetch = prefetch;
    /** The channel of the current connection, consuming or paused. */
    let current: Channel | undefined;
    const subscription = { queue };
    this.notYetConsuming.add(subscription);
    let resubscribeDelayMs = this.config.AMQP_RECONNECT_MIN_MS;
    let resubscribeTimer: NodeJS.Timeout | undefined;
    const startConsuming = async (channel: Channel) => {
      await channel.prefetch(currentPrefetch);
      const { consumerTag } = await channel.consume(
        queue,
        (message) => {
          if (message) onDelivery(message, channel);
          else cancelledByBroker(channel);
        },
        { noAck: false, arguments: await consumeArguments?.() },
      );
      active = { channel, consumerTag };
      this.notYetConsuming.delete(subscription);
      resubscribeDelayMs = this.config.AMQP_RECONNECT_MIN_MS;
      if (this.resubscribing.delete(subscription)) this.logger.info('consuming again after the broker cancelled the consumer', { queue });
    };
    const stopConsuming = async () => {
      const consuming = active;
      active = undefined;
      if (consuming) await consuming.channel.cancel(consuming.consumerTag).catch(() => undefined);
    };
    // Starting and stopping the consumer one at a time: a resume in the middle of a reconnect's setup
    // (or a pause in the middle of a start) would otherwise leave two consumers, one of them untracked.
    let serial: Promise<void> = Promise.resolve();
    const inTurn = (step: () => Promise<void>): Promise<void> => {
      const next = serial.then(step, step);
      serial = next.catch(() => undefined);
      return next;
    };
    const resubscribeLater = () => {
      const delay = Math.round(resubscribeDelayMs * (0.8 + Math.random() * 0.2));
      resubscribeDelayMs = Math.min(resubscribeDelayMs * 2, this.config.AMQP_RECONNECT_MAX_MS);
      clearTimeout(resubscribeTimer);
      resubscribeTimer = setTimeout(() => void inTurn(resubscribe), delay);
      return delay;
    };
    const cancelledByBroker = (channel: Channel) => {
      // Only the consumer of now: one this process cancelled itself is not to be restarted.
      if (active?.channel !== channel) return;
      active = undefined;
      this.resubscribing.add(subscription);
      this.emit(CONSUMER_CANCELLED, { queue });
      this.logger.warn('the broker cancelled the consumer (queue deleted, or its node lost); subscribing again', { queue, retry_in_ms: resubscribeLater() });
    };
    /** Declares the queue again on a channel of its own, then consumes on the consumer's; on failure, tries again later. */
    const resubscribe = async () => {
      // Stopped, paused (resume() calls this), or consuming again since (a reconnect's setup).
      if (cancelled || paused || active || !this.resubscribing.has(subscription)) return;
      const channel = current;
      if (!channel || !isChannelOpen(channel)) {
        // A lost connection sets the channel up again when it comes back; a channel the broker closed
        // under a live connection (a refused consume, a check of the missing queue) is reopened only
        // by a new connection (amqp-connection-manager issue 347): force one. Not when the channel
        // died with its connection and the next one is still running the setup.
        if (channel && channel.connection === this.manager.connection?.connection) {
          this.logger.warn('the consumer channel closed while the connection stays; reconnecting', { queue });
          this.manager.reconnect();
        }
        return;
      }
      try {
        await this.onSpareChannel((spare) => this.assertQueue(spare, queue));
        // The channel of before the wait: a reconnect meanwhile has its own setup consume on its channel.
        await startConsuming(channel);
      } catch (error) {
        this.logger.warn('could not subscribe again yet', { queue, error: (error as Error).message, retry_in_ms: resubscribeLater() });
      }
    };
    const wrapper = this.manager.createChannel({
      name: `consumer ${queue}`,
      confirm: false,
      setup: async (channel: Channel) => {
        channel.once('close', () => closedChannels.add(channel));
        // A channel the broker closes emits `error` first (a check of a deleted queue, a refused
        // consume); unheard, that error would end the process. The close is what the runtime acts on.
        channel.on('error', (error: Error) => this.logger.warn('consumer channel closed by the broker', { queue, error: error.message }));
        current = channel;
        await this.assertTopology(channel);
        await inTurn(async () => {
          // Paused across a reconnect: resume() starts consuming on this channel.
          if (cancelled || paused || current !== channel) return;
          await startConsuming(channel);
        });
      },
    });
    wrapper.on('error', (error) => this.logger.error('consumer channel error', { queue, error: error.message }));
    this.consumers.add(wrapper);
    const forget = () => {
      clearTimeout(resubscribeTimer);
      this.resubscribing.delete(subscription);
      this.notYetConsuming.delete(subscription);
    };
    return {
      cancel: () => {
        cancelled = true;
        forget();
        return inTurn(stopConsuming);
      },
      pause: () => {
        paused = true;
        // Paused on purpose (a mailbox outage): not a consumer that failed to start.
        this.notYetConsuming.delete(subscription);
        return inTurn(stopConsuming);
      },
      resume: (nextPrefetch: number) => {
        paused = false;
        currentPrefetch = nextPrefetch;
        return inTurn(async () => {
          if (cancelled || paused) return;
          await stopConsuming();
          // Cancelled by the broker meanwhile: its queue may be gone, so not a bare consume.
          if (this.resubscribing.has(subscription)) await resubscribe();
          // A closed channel is replaced on reconnect, whose setup consumes with this prefetch.
          else if (current && isChannelOpen(current)) await startConsuming(current);
        });
      },
      close: async () => {
        forget();
        this.consumers.delete(wrapper);
        await wrapper.close().catch(() => undefined);
      },
    };
  }

  /** Closes every channel and the connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.consumers].map((wrapper) => wrapper.close().catch(() => undefined)));
    await this.publisher.close().catch(() => undefined);
    await this.manager.close().catch(() => undefined);
  }

  private async assertTopology(channel: Channel): Promise<void> {
    await this.asserting(() => (this.config.AMQP_TOPOLOGY === 'verify' ? verifyTopology(channel, this.topology) : declareTopology(channel, this.topology)));
    if (!this.topologyAsserted) {
      this.topologyAsserted = true;
      this.emit('topology');
    }
  }

  /** Declares one queue of the topology and its bindings again (checks it, with AMQP_TOPOLOGY=verify). */
  private async assertQueue(channel: Channel, queue: string): Promise<void> {
    const spec = this.topology.queues.find((candidate) => candidate.name === queue);
    await this.asserting(async () => {
      if (this.config.AMQP_TOPOLOGY === 'verify' || !spec) await channel.checkQueue(queue);
      else await declareQueue(channel, spec);
    });
  }

  /**
   * Runs a declaration, and reports a broker refusal no reconnect can cure as `fatal` (a mismatch,
   * a missing topology the user may not declare, a user who may not declare) before rethrowing.
   */
  private async asserting(declaration: () => Promise<void>): Promise<void> {
    const verifyOnly = this.config.AMQP_TOPOLOGY === 'verify';
    try {
      await declaration();
    } catch (error) {
      const code = (error as { code?: number }).code;
      if (code !== undefined && UNRECOVERABLE_REPLY_CODES.has(code) && !isQueueStarting(error)) {
        const fatal =
          code === 406
            ? await describeTopologyMismatch(error as Error, this.topology, this.config)
            : code === 404 && verifyOnly
              ? new Error(
                  `The topology is not declared on this vhost (AMQP_TOPOLOGY=verify): run \`npm run topology\` as the admin user first: ${(error as Error).message}`,
                )
              : code === 403 && !verifyOnly
                ? new Error(
                    `This user may not declare the topology: set AMQP_TOPOLOGY=verify for least-privilege users (the admin declares it with \`npm run topology\`): ${(error as Error).message}`,
                  )
                : (error as Error);
        this.fail(fatal);
      }
      throw error;
    }
  }

  /**
   * Runs `step` on a channel of its own on the current connection, closed afterwards: a declaration
   * the broker refuses closes that channel, not a consumer's.
   */
  private async onSpareChannel(step: (channel: Channel) => Promise<void>): Promise<void> {
    const connection = this.manager.connection;
    if (!connection) throw new Error('not connected');
    const channel = await connection.createChannel();
    // The refusal also comes as the step's rejection; unheard, the `error` event would end the process.
    channel.on('error', () => undefined);
    try {
      await step(channel);
    } finally {
      await channel.close().catch(() => undefined);
    }
  }

  private backOff(): void {
    const next = Math.min(this.manager.reconnectTimeInSeconds * 2, this.config.AMQP_RECONNECT_MAX_MS / 1000);
    this.manager.reconnectTimeInSeconds = next * (0.8 + Math.random() * 0.2);
  }

  /** A failure no reconnect can cure: reported once as `fatal`; the process decides to stop. */
  private fail(error: Error): void {
    if (this.listenerCount('fatal') === 0) this.logger.error('fatal broker error', { error: error.message });
    this.emit('fatal', error);
  }
}

export { TopologyMismatchError };

/**
 * A 404 saying the home node of a durable queue "is down or inaccessible" is not a missing queue:
 * right after the broker (re)starts, the `events.audit` stream answers so until its member is up
 * (seen in test/faults/broker-restart.test.ts), and so does any queue of a cluster node that is
 * down. So does a queue whose "process is stopped by supervisor": a classic queue of a cluster node
 * that is stopping (seen with QUEUE_TYPE=classic in test/faults/cluster-failover.test.ts, where it
 * stopped the recorder). The next reconnect cures it; stopping the worker would not.
 */
export function isQueueStarting(error: unknown): boolean {
  return (error as { code?: number }).code === 404 && /is down or inaccessible|process is stopped by supervisor/.test((error as Error).message ?? '');
}

/**
 * Checks that every exchange and queue exists, without declaring anything: passive declares need no
 * permission, so least-privilege role users can run it. Bindings cannot be checked passively; they
 * are the admin's `npm run topology`'s job. Throws the broker's 404 for the first missing one.
 */
async function verifyTopology(channel: Channel, topology: Topology): Promise<void> {
  for (const exchange of topology.exchanges) await channel.checkExchange(exchange.name);
  for (const queue of topology.queues) await channel.checkQueue(queue.name);
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
