/**
 * The consumer runtime every role runs in: validation at the door, bounded concurrency, ack on
 * success, delayed retry with exponential backoff and jitter for retryable errors, the dead-letter
 * record of DESIGN.md §3 for everything else, and the graceful shutdown of §4.
 */
import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { Channel, ConsumeMessage } from 'amqplib';
import type { ZodType } from 'zod';
import type { Logger } from '../log.js';
import { errorCode, isRetryable, permanentError } from '../errors.js';
import type { Broker, ConsumerHandle } from './broker.js';
import { EXCHANGES, retryDelayMs, waitQueueName, workQueue } from './topology.js';
import type { DeadLetterRecord } from './schemas.js';
import { publishEvent, type EventFields } from './events.js';
import { withoutQuotedInput } from '../privacy/redact.js';
import { forwardingReplay, markedAsReplay, replayMarkerOf, type ReplayMarker } from './audit-replay.js';

/** Header carrying how many attempts a message has had so far. */
export const ATTEMPTS_HEADER = 'x-ragmail-attempts';

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

/** A role's consumer: the queue it reads, the schema at its door, the handler behind it. */
export interface ConsumerDefinition<T> {
  role: string;
  queue: string;
  schema: ZodType<T>;
  handle: Handler<T>;
  concurrency: number;
  /** Broker prefetch; at least the concurrency. */
  prefetch: number;
}

export interface RuntimeOptions {
  maxAttempts: number;
  retryBaseDelayMs: number;
  shutdownGraceMs: number;
}

/** Emitted as `settled` after each message, for metrics. */
export interface SettledInfo {
  role: string;
  queue: string;
  outcome: 'processed' | 'retried' | 'dead_lettered' | 'requeued';
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
  private readonly abort = new AbortController();
  private readonly consumerId: string;
  private stopping = false;

  constructor(
    private readonly definition: ConsumerDefinition<T>,
    private readonly broker: Broker,
    private readonly logger: Logger,
    private readonly options: RuntimeOptions,
  ) {
    super();
    this.consumerId = `${hostname()}:${process.pid}:${definition.role}`;
  }

  /** Messages being handled now. */
  get activeCount(): number {
    return this.inFlight.size;
  }

  start(): void {
    const { queue } = this.definition;
    this.handle = this.broker.consume(queue, Math.max(this.definition.prefetch, this.definition.concurrency), (message, channel) => {
      if (this.stopping) {
        safely(() => channel.nack(message, false, true));
        return;
      }
      this.waiting.push({ message, channel });
      this.pump();
    });
    this.logger.info('consuming', { queue, concurrency: this.definition.concurrency, prefetch: this.definition.prefetch });
  }

  /**
   * Stops taking work, lets in-flight messages finish within the grace time, then aborts them;
   * whatever is unfinished is not acked and returns to the queue when the channel closes.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    await this.handle?.cancel();
    for (const { message, channel } of this.waiting.splice(0)) safely(() => channel.nack(message, false, true));
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
    await this.handle?.close();
  }

  private pump(): void {
    while (this.inFlight.size < this.definition.concurrency && this.waiting.length > 0) {
      const delivery = this.waiting.shift()!;
      const task = this.process(delivery).finally(() => {
        this.inFlight.delete(task);
        this.pump();
      });
      this.inFlight.add(task);
    }
  }

  private async process({ message, channel }: Delivery): Promise<void> {
    const started = Date.now();
    const { role, queue } = this.definition;
    const previousAttempts = Number(message.properties.headers?.[ATTEMPTS_HEADER] ?? 0) || 0;
    const attempt = previousAttempts + 1;
    let body: unknown = message.content.toString('utf8');
    let logger = this.logger.child({ message_id: message.properties.messageId ?? null, email_id: null });
    const settle = (outcome: SettledInfo['outcome'], status: string) =>
      this.emit('settled', { role, queue, outcome, status, durationMs: Date.now() - started } satisfies SettledInfo);

    let parsed: T;
    try {
      try {
        body = JSON.parse(message.content.toString('utf8'));
      } catch (error) {
        // Without the quoted start of the body: this message reaches the error log.
        throw permanentError('invalid_json', `body is not JSON: ${withoutQuotedInput((error as Error).message)}`);
      }
      logger = this.logger.child({ message_id: message.properties.messageId ?? messageIdOf(body), email_id: emailIdOf(body) });
      const validation = this.definition.schema.safeParse(body);
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
      const context: HandlerContext = {
        role,
        logger,
        signal: this.abort.signal,
        attempt,
        priority: message.properties.priority,
        broker: replay ? forwardingReplay(this.broker, replay) : this.broker,
        emit: (fields) => publishEvent(this.broker, role, replay ? markedAsReplay(fields, replay) : fields),
        replay,
      };
      const outcome = await this.definition.handle(parsed, context);
      safely(() => channel.ack(message));
      logger.debug('handled', { status: outcome.status, attempt });
      settle('processed', outcome.status);
    } catch (error) {
      if (this.abort.signal.aborted) {
        // Shutdown cut the work short: it goes back to the queue as it was.
        safely(() => channel.nack(message, false, true));
        settle('requeued', 'shutdown');
      } else if (isRetryable(error) && attempt < this.options.maxAttempts) {
        await this.retryLater(message, channel, attempt, error as Error, logger);
        settle('retried', errorCode(error));
      } else {
        await this.deadLetter(message, channel, body, error as Error, attempt, logger);
        settle('dead_lettered', errorCode(error));
      }
    }
  }

  /** Parks the message in the wait queue for its attempt; the broker brings it back after the delay. */
  private async retryLater(message: ConsumeMessage, channel: Channel, attempt: number, error: Error, logger: Logger): Promise<void> {
    const delay = retryDelayMs(this.options, attempt);
    // Jitter within the upper quarter keeps delays growing strictly from one attempt to the next.
    const jittered = Math.round(delay * (0.75 + Math.random() * 0.25));
    logger.warn('attempt failed, retrying later', { attempt, retry_in_ms: jittered, error: error.message, code: errorCode(error) });
    try {
      await this.broker.sendToQueue(waitQueueName(this.definition.queue, delay), JSON.parse(message.content.toString('utf8')), {
        messageId: message.properties.messageId,
        priority: message.properties.priority,
        headers: { ...stripDeathHeaders(message.properties.headers), [ATTEMPTS_HEADER]: attempt },
        expirationMs: jittered,
      });
      safely(() => channel.ack(message));
    } catch (publishError) {
      logger.error('could not schedule the retry; returning the message to the queue', { error: (publishError as Error).message });
      safely(() => channel.nack(message, false, true));
    }
  }

  /** Publishes the dead-letter record (DESIGN.md §3), then acks; on failure the message returns to the queue. */
  private async deadLetter(message: ConsumeMessage, channel: Channel, body: unknown, error: Error, retryCount: number, logger: Logger): Promise<void> {
    const { deadLetterRoutingKey } = workQueue(this.definition.queue);
    const record: DeadLetterRecord = {
      message_id: randomUUID(),
      timestamp: new Date().toISOString(),
      original_queue: this.definition.queue,
      original_message: body,
      failure_info: {
        error_message: error.message,
        error_type: errorCode(error),
        retry_count: retryCount,
        stack_trace: error.stack ?? null,
        consumer_id: this.consumerId,
      },
    };
    logger.error('dead-lettering message', { error: error.message, code: errorCode(error), retry_count: retryCount });
    try {
      await this.broker.publish(EXCHANGES.deadLetter, deadLetterRoutingKey, record, { headers: { 'x-original-queue': this.definition.queue } });
      await publishEvent(this.broker, this.definition.role, {
        stage: 'dead_lettered',
        email_id: emailIdOf(body),
        document_id: documentIdOf(body),
        agent_email: agentEmailOf(body),
        detail: { error_message: error.message, error_type: errorCode(error), queue: this.definition.queue, retry_count: retryCount },
      }).catch((eventError: Error) => logger.warn('could not publish the dead-letter event', { error: eventError.message }));
      safely(() => channel.ack(message));
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

function field(body: unknown, ...keys: string[]): string | null {
  let current: unknown = body;
  for (const key of keys) {
    if (!current || typeof current !== 'object' || !(key in current)) return null;
    current = (current as Record<string, unknown>)[key];
  }
  return typeof current === 'string' ? current : null;
}

const messageIdOf = (body: unknown) => field(body, 'message_id');
export const emailIdOf = (body: unknown) => field(body, 'email', 'email_id');
const documentIdOf = (body: unknown) => field(body, 'document_id');
const agentEmailOf = (body: unknown) => field(body, 'email', 'agent_email') ?? field(body, 'agent_email');

/** `x-death` grows on every pass through a wait queue; the attempts header says all that is needed. */
function stripDeathHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const { 'x-death': _death, 'x-first-death-exchange': _exchange, 'x-first-death-queue': _queue, 'x-first-death-reason': _reason, ...rest } = headers ?? {};
  return rest;
}
