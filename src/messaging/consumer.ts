/**
 * The consumer runtime every role runs in: validation at the door, bounded concurrency, ack on
 * success, delayed retry with exponential backoff and jitter for retryable errors, the dead-letter
 * record (docs/ARCHITECTURE.md#dead-letters) for everything else, a delivery limit for messages
 * whose worker dies or freezes on them, and the graceful shutdown (docs/ARCHITECTURE.md#shutdown).
 *
 * A delivery is settled only on the channel it came on. When that channel is gone (the broker
 * dropped a connection whose worker held the event loop, a network cut) the broker has already put
 * the message back; the runtime then publishes nothing for it, neither retry copy nor dead-letter
 * record, or every such loss would add a copy (1 → 2 → 4 → 8).
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Logger } from '../lib/log.js';
import { errorCode, isRetryable, permanentError, retryAfterMsOf } from '../lib/errors.js';
import { isChannelOpen, type Broker, type ConsumerHandle, type PublishOptions } from './broker.js';
import { EXCHANGES, REQUEUE_ROUTING_KEY, retryDelayMs, retryExchangeName, waitRoutingKey } from './topology.js';
import { publishEvent, publishHop } from './events.js';
import type { EventFields, ReplayMarker } from '../pipeline/events.js';
import type { MessageOf, WorkStage } from '../pipeline/stages.js';
import { buildDeadLetterRecord } from './dead-letter-record.js';
import { DELIVERIES_HEADER, deliveryLimitError, lostDeliveries } from './delivery-limit.js';
import { withoutQuotedInput } from '../lib/redact.js';
import { agentEmailOf, documentIdOf, emailIdOf, messageIdOf, parsedOrRaw, stripDeathHeaders } from './message-body.js';
import { forwardingReplay, markedAsReplay, replayMarkerOf } from './audit-replay.js';
import { OUTAGE_HOLDS_HEADER, OutageBreaker, type OutageOptions } from './outage-breaker.js';

/** Header carrying how many attempts a message has had so far. */
export const ATTEMPTS_HEADER = 'x-ragmail-attempts';
export { DELIVERIES_HEADER };

export interface HandlerContext {
  role: string;
  /** Logger whose lines carry role, message_id and email_id. */
  logger: Logger;
  /** Aborted when shutdown's grace time runs out: stop and let the message go back to the queue. */
  signal: AbortSignal;
  /** 1 for the first attempt. */
  attempt: number;
  /** AMQP priority the message arrived with, if any. */
  priority: number | undefined;
  broker: Broker;
  /** Publishes a stage outcome to the `events` exchange (and so to the audit stream). */
  emit(fields: EventFields): Promise<void>;
  /**
   * Publishes the next stage's message with this stage's outcomes riding on it to the audit stream
   * (src/messaging/events.ts, `publishHop`): one confirmed publish where a hop and its events took
   * one each. `events` must be of the stages `stage.carries` names.
   */
  forward<Stage extends WorkStage>(stage: Stage, message: MessageOf<Stage>, events: EventFields[], options?: PublishOptions): Promise<void>;
  /**
   * Set when the message is a replay from the audit stream (src/messaging/audit-replay.ts); then
   * `broker` passes the replay on to what the stage publishes and `emit` marks the events.
   */
  replay?: ReplayMarker;
}

/** What a handler reports; `status` names the outcome for logs and metrics. */
export interface Outcome {
  status: string;
}

export type Handler<T> = (message: T, context: HandlerContext) => Promise<Outcome>;

/**
 * A role's consumer: the stage it works (its queue, and the schema at the queue's door), the handler
 * behind it. The handler's message type is the stage's, so a handler cannot be put on a queue whose
 * messages it does not read (test/unit/pipeline-types.test.ts).
 */
export interface ConsumerDefinition<T> {
  role: string;
  stage: WorkStage<T>;
  handle: Handler<T>;
  concurrency: number;
  /** Broker prefetch; at least the concurrency. */
  prefetch: number;
}

export interface RuntimeOptions {
  maxAttempts: number;
  retryBaseDelayMs: number;
  shutdownGraceMs: number;
  /** Deliveries that may end without an outcome before the message is dead-lettered (MAX_DELIVERIES); default 5. */
  maxDeliveries?: number;
  /** Riding out a dependency's outage (outage-breaker.ts); absent or `limitMs` 0: every failure counts as an attempt. */
  outage?: OutageOptions;
}

/** Emitted as `settled` after each message, for metrics. */
export interface SettledInfo {
  role: string;
  queue: string;
  /** `held`: back in its queue, no attempt counted, while a dependency is out (outage-breaker.ts). */
  outcome: 'processed' | 'retried' | 'dead_lettered' | 'requeued' | 'held';
  status: string;
  durationMs: number;
}

interface Delivery {
  message: ConsumeMessage;
  channel: Channel;
}

export class ConsumerRuntime<T> extends EventEmitter {
  private handle?: ConsumerHandle;
  private readonly waiting: Delivery[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  /** Unstarted deliveries being handed back at shutdown. */
  private readonly returning = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private readonly consumerId: string;
  private readonly breaker?: OutageBreaker;
  private stopping = false;

  constructor(
    private readonly definition: ConsumerDefinition<T>,
    private readonly broker: Broker,
    private readonly logger: Logger,
    private readonly options: RuntimeOptions,
  ) {
    super();
    this.consumerId = `${hostname()}:${process.pid}:${definition.role}`;
    if (options.outage && options.outage.limitMs > 0) {
      this.breaker = new OutageBreaker(
        options.outage,
        {
          pause: async () => {
            await this.handle?.pause();
            for (const delivery of this.waiting.splice(0)) this.handBack(delivery);
          },
          resume: async (probe) => {
            if (!this.stopping) await this.handle?.resume(probe ? 1 : this.prefetch);
          },
        },
        logger,
      );
    }
  }

  private get prefetch(): number {
    return Math.max(this.definition.prefetch, this.definition.concurrency);
  }

  /** True while a dependency's outage pauses this consumer (or it probes whether the outage is over). */
  get inOutage(): boolean {
    return this.breaker?.inOutage ?? false;
  }

  /** Messages being handled now. */
  get activeCount(): number {
    return this.inFlight.size;
  }

  start(): void {
    const { queue } = this.definition.stage;
    this.handle = this.broker.consume(queue, this.prefetch, (message, channel) => {
      if (this.stopping) {
        this.handBack({ message, channel });
        return;
      }
      this.waiting.push({ message, channel });
      this.pump();
    });
    this.logger.info('consuming', { queue, concurrency: this.definition.concurrency, prefetch: this.definition.prefetch });
  }

  /**
   * Stops taking work, hands back what it had not started, lets in-flight messages finish within
   * the grace time, then aborts them; whatever is unfinished is not acked and returns to the queue
   * when the channel closes (and counts as a lost delivery: it was started).
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.breaker?.stop();
    await this.handle?.cancel();
    for (const delivery of this.waiting.splice(0)) this.handBack(delivery);
    const drained = Promise.allSettled([...this.inFlight]);
    const timedOut = await Promise.race([
      drained.then(() => false),
      new Promise<boolean>((resolve) => setTimeout(() => resolve(true), this.options.shutdownGraceMs).unref()),
    ]);
    if (timedOut) {
      this.logger.warn('grace time over, aborting in-flight work', { in_flight: this.inFlight.size });
      this.abort.abort(new Error('shutdown'));
      await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, 1_000).unref())]);
    }
    await Promise.allSettled([...this.returning]);
    await this.handle?.close();
  }

  /**
   * Returns a delivery this runtime never started. A nack would come back flagged `redelivered`
   * and count against the delivery limit as if a worker had died on it; a copy with its headers
   * unchanged does not. When the copy cannot be published, the nack is the fallback.
   */
  private handBack({ message, channel }: Delivery): void {
    // A redelivery it did not get to count keeps its count all the same.
    const headers = message.fields.redelivered
      ? { ...message.properties.headers, [DELIVERIES_HEADER]: lostDeliveries(message) }
      : (message.properties.headers ?? {});
    const task = (async () => {
      if (!(await this.stillHeld(channel))) return;
      try {
        await this.republish(message, REQUEUE_ROUTING_KEY, headers);
        safely(() => channel.ack(message));
      } catch {
        safely(() => channel.nack(message, false, true));
      }
    })().finally(() => this.returning.delete(task));
    this.returning.add(task);
  }

  private pump(): void {
    // Paused by an outage: what arrived before the consumer was cancelled goes back unstarted.
    if (this.breaker?.paused) {
      for (const delivery of this.waiting.splice(0)) this.handBack(delivery);
      return;
    }
    while (this.inFlight.size < this.definition.concurrency && this.waiting.length > 0) {
      const delivery = this.waiting.shift()!;
      // Its channel closed while it waited: the broker has put it back already.
      if (!isChannelOpen(delivery.channel)) continue;
      const task = this.process(delivery).finally(() => {
        this.inFlight.delete(task);
        this.pump();
      });
      this.inFlight.add(task);
    }
  }

  private async process({ message, channel }: Delivery): Promise<void> {
    const started = Date.now();
    const { role } = this.definition;
    const { queue } = this.definition.stage;
    const previousAttempts = Number(message.properties.headers?.[ATTEMPTS_HEADER] ?? 0) || 0;
    const attempt = previousAttempts + 1;
    const settle = (outcome: SettledInfo['outcome'], status: string) =>
      this.emit('settled', { role, queue, outcome, status, durationMs: Date.now() - started } satisfies SettledInfo);

    if (message.fields.redelivered) {
      const counted = await this.countRedelivery(message, channel, this.logger.child({ message_id: message.properties.messageId ?? null, email_id: null }));
      settle(counted, counted === 'dead_lettered' ? 'delivery_limit_exceeded' : 'redelivered');
      return;
    }

    // The body is decoded and parsed once, and the delivery gets one logger (a body that is not
    // JSON stays text, whose ids are null).
    const text = message.content.toString('utf8');
    let body: unknown = text;
    let invalidJson: Error | undefined;
    try {
      body = JSON.parse(text);
    } catch (error) {
      // Without the quoted start of the body: this message reaches the error log.
      invalidJson = permanentError('invalid_json', `body is not JSON: ${withoutQuotedInput((error as Error).message)}`);
    }
    const logger = this.logger.child({ message_id: message.properties.messageId ?? messageIdOf(body), email_id: emailIdOf(body) });
    let parsed: T;
    try {
      if (invalidJson) throw invalidJson;
      const validation = this.definition.stage.schema.safeParse(body);
      if (!validation.success) {
        const problems = validation.error.issues.map((issue) => `${issue.path.join('.') || '(body)'}: ${issue.message}`).join('; ');
        throw permanentError('schema_invalid', `body does not match the ${queue} schema: ${problems}`);
      }
      parsed = validation.data;
    } catch (error) {
      await this.deadLetter(message, channel, body, error as Error, 0, logger);
      settle('dead_lettered', errorCode(error));
      return;
    }

    try {
      const replay = replayMarkerOf(message.properties.headers);
      const broker = replay ? forwardingReplay(this.broker, replay) : this.broker;
      const marked = (fields: EventFields) => (replay ? markedAsReplay(fields, replay) : fields);
      const context: HandlerContext = {
        role,
        logger,
        signal: this.abort.signal,
        attempt,
        priority: message.properties.priority,
        broker,
        emit: (fields) => publishEvent(this.broker, role, marked(fields)),
        forward: (stage, next, events, options) => publishHop(broker, role, stage, next, events.map(marked), options),
        replay,
      };
      const outcome = await this.definition.handle(parsed, context);
      safely(() => channel.ack(message));
      logger.debug('handled', { status: outcome.status, attempt });
      settle('processed', outcome.status);
      this.breaker?.succeeded();
    } catch (error) {
      if (this.abort.signal.aborted) {
        // Shutdown cut the work short: it goes back to the queue as it was.
        safely(() => channel.nack(message, false, true));
        settle('requeued', 'shutdown');
      } else if (this.breaker?.shouldHold(error, Number(message.properties.headers?.[OUTAGE_HOLDS_HEADER] ?? 0) || 0)) {
        // Only a failure that trips a working role counts against the message; a failed probe does not.
        const countsHold = !this.breaker.inOutage;
        // Paused first: the copy put back must not come straight back to this consumer.
        this.breaker.tripped(error);
        await this.holdForOutage(message, channel, error as Error, countsHold, logger);
        settle('held', errorCode(error));
      } else if (isRetryable(error) && attempt < this.options.maxAttempts) {
        await this.retryLater(message, channel, attempt, error as Error, logger);
        settle('retried', errorCode(error));
      } else {
        await this.deadLetter(message, channel, body, error as Error, attempt, logger);
        settle('dead_lettered', errorCode(error));
      }
    }
  }

  /**
   * Parks the message in the wait queue for its attempt; the broker brings it back after the delay.
   * A pause the error asks for (a provider's `retry-after`) is honoured up to the longest wait
   * queue: the message waits in the first queue long enough, for the pause asked.
   */
  private async retryLater(message: ConsumeMessage, channel: Channel, attempt: number, error: Error, logger: Logger): Promise<void> {
    const asked = retryAfterMsOf(error);
    let queueAttempt = attempt;
    while (asked !== undefined && retryDelayMs(this.options, queueAttempt) < asked && queueAttempt < this.options.maxAttempts - 1) queueAttempt += 1;
    const delay = retryDelayMs(this.options, queueAttempt);
    // Jitter within the upper quarter keeps delays growing strictly from one attempt to the next.
    const jittered = Math.round(delay * (0.75 + Math.random() * 0.25));
    const wait = asked === undefined ? jittered : Math.min(delay, Math.max(jittered, asked));
    logger.warn('attempt failed, retrying later', { attempt, retry_in_ms: wait, retry_after_ms: asked, error: error.message, code: errorCode(error) });
    if (!(await this.stillHeld(channel))) {
      logger.warn("the delivery's channel closed during the attempt; the broker redelivers it, no retry copy published");
      return;
    }
    try {
      await this.republish(message, waitRoutingKey(delay), { ...stripDeathHeaders(message.properties.headers), [ATTEMPTS_HEADER]: attempt }, wait);
      this.settleOn(channel, message, logger);
    } catch (publishError) {
      logger.error('could not schedule the retry; returning the message to the queue', { error: (publishError as Error).message });
      safely(() => channel.nack(message, false, true));
    }
  }

  /**
   * Counts a redelivery (DELIVERIES_HEADER): below the limit the message goes back to the queue as
   * a copy carrying the count, so a worker that dies on it again leaves the count behind; at the
   * limit it is dead-lettered.
   */
  private async countRedelivery(message: ConsumeMessage, channel: Channel, logger: Logger): Promise<'requeued' | 'dead_lettered'> {
    const lost = lostDeliveries(message);
    const maxDeliveries = this.options.maxDeliveries ?? 5;
    if (lost >= maxDeliveries) {
      await this.deadLetter(
        message,
        channel,
        parsedOrRaw(message),
        deliveryLimitError(lost),
        Number(message.properties.headers?.[ATTEMPTS_HEADER] ?? 0) || 0,
        logger,
      );
      return 'dead_lettered';
    }
    if (!(await this.stillHeld(channel))) return 'requeued';
    logger.warn('message redelivered: a worker died or lost the broker while handling it', { deliveries_lost: lost, max_deliveries: maxDeliveries });
    try {
      await this.republish(message, REQUEUE_ROUTING_KEY, { ...message.properties.headers, [DELIVERIES_HEADER]: lost });
      this.settleOn(channel, message, logger);
    } catch (publishError) {
      // Without the count stored the message is not handled: a worker it kills would leave no trace.
      logger.error('could not record the redelivery; returning the message to the queue', { error: (publishError as Error).message });
      safely(() => channel.nack(message, false, true));
    }
    return 'requeued';
  }

  /**
   * Puts the message back at the end of its queue as it came, its attempts uncounted, with one more
   * outage hold in its headers: the outage, not the message, failed.
   */
  private async holdForOutage(message: ConsumeMessage, channel: Channel, error: Error, countsHold: boolean, logger: Logger): Promise<void> {
    await this.breaker?.pausing;
    const holds = (Number(message.properties.headers?.[OUTAGE_HOLDS_HEADER] ?? 0) || 0) + (countsHold ? 1 : 0);
    logger.warn('dependency outage: message held back in its queue, attempt not counted', { code: errorCode(error), holds, error: error.message });
    if (!(await this.stillHeld(channel))) return;
    try {
      await this.republish(message, REQUEUE_ROUTING_KEY, { ...message.properties.headers, [OUTAGE_HOLDS_HEADER]: holds });
      this.settleOn(channel, message, logger);
    } catch (publishError) {
      logger.error('could not hold the message back; returning it to the queue', { error: (publishError as Error).message });
      safely(() => channel.nack(message, false, true));
    }
  }

  /** Publishes a copy of the delivery to this queue's retry exchange (a wait queue, or `requeue` straight back). */
  private async republish(message: ConsumeMessage, routingKey: string, headers: Record<string, unknown>, expirationMs?: number): Promise<void> {
    // The delivery's own bytes go back: a copy, not a new message of the stage, so the raw publish.
    await this.broker.publishRaw(retryExchangeName(this.definition.stage.queue), routingKey, message.content, {
      messageId: message.properties.messageId,
      priority: message.properties.priority,
      headers,
      expirationMs,
    });
  }

  /**
   * Whether the delivery is still this runtime's to settle. Two turns of the event loop first let
   * the socket events that queued up while a handler held the loop be read (a broker that dropped
   * the connection meanwhile shows now), then a round trip on the channel proves it is alive.
   */
  private async stillHeld(channel: Channel): Promise<boolean> {
    for (let turn = 0; turn < 2; turn += 1) await new Promise((resolve) => setImmediate(resolve));
    if (!isChannelOpen(channel)) return false;
    try {
      await channel.checkQueue(this.definition.stage.queue);
    } catch {
      return false;
    }
    return isChannelOpen(channel);
  }

  /** Acks after a copy was published; a channel lost in between leaves two copies, which is logged. */
  private settleOn(channel: Channel, message: ConsumeMessage, logger: Logger): void {
    if (!isChannelOpen(channel)) logger.warn('the channel closed while a copy of the message was published; it may be handled twice');
    safely(() => channel.ack(message));
  }

  /** Publishes the dead-letter record (docs/ARCHITECTURE.md#dead-letters), then acks; on failure the message returns to the queue. */
  private async deadLetter(message: ConsumeMessage, channel: Channel, body: unknown, error: Error, retryCount: number, logger: Logger): Promise<void> {
    const { deadLetterRoutingKey } = this.definition.stage;
    const record = buildDeadLetterRecord({ queue: this.definition.stage.queue, body, error, retryCount, consumerId: this.consumerId });
    logger.error('dead-lettering message', { error: error.message, code: errorCode(error), retry_count: retryCount });
    if (!(await this.stillHeld(channel))) {
      logger.warn("the delivery's channel closed during the attempt; the broker redelivers it, no dead-letter record published");
      return;
    }
    try {
      // A dead-letter record is not a stage's message (its body is whatever failed): the raw publish.
      await this.broker.publishRaw(EXCHANGES.deadLetter, deadLetterRoutingKey, record, { headers: { 'x-original-queue': this.definition.stage.queue } });
      await publishEvent(this.broker, this.definition.role, {
        stage: 'dead_lettered',
        email_id: emailIdOf(body),
        document_id: documentIdOf(body),
        agent_email: agentEmailOf(body),
        detail: {
          error_message: record.failure_info.error_message,
          error_type: record.failure_info.error_type,
          queue: this.definition.stage.queue,
          retry_count: retryCount,
        },
      }).catch((eventError: Error) => logger.warn('could not publish the dead-letter event', { error: eventError.message }));
      this.settleOn(channel, message, logger);
    } catch (publishError) {
      logger.error('could not dead-letter; returning the message to the queue', { error: (publishError as Error).message });
      safely(() => channel.nack(message, false, true));
    }
  }
}

/** Acks and nacks on a channel that has closed throw; the broker redelivers those messages anyway. */
function safely(action: () => void): void {
  try {
    action();
  } catch {
    // The channel is gone: the message is redelivered on the next connection.
  }
}
