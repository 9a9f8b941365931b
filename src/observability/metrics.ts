/**
 * Prometheus metrics of one worker process, on a registry of its own rather than prom-client's
 * global one, so several workers can run in one process (as the tests do) without counting into
 * each other. Names follow Prometheus conventions: `ragmail_` prefix, snake_case, `_total` on
 * counters, base units (`_seconds`). Recording never throws into the work it measures.
 */
import type { EventEmitter } from 'node:events';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { isRetryable } from '../lib/errors.js';
import type { SettledInfo } from '../messaging/consumer.js';
import { CONSUMER_CANCELLED } from '../messaging/broker.js';
import { PIPELINE_EVENT } from '../messaging/events.js';
import type { PipelineEvent } from '../pipeline/events.js';
import type { LanguageModel, ModelResult } from '../providers/llm/spec.js';
import type { VectorStore } from '../providers/vector-store/spec.js';
import type { SendLedger } from '../store/send-ledger.js';

/** Message handling and stages: milliseconds for a classification, minutes for a large PDF. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const LLM_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64];
const RETRIEVAL_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const SCORE_BUCKETS = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];

const seconds = (milliseconds: number) => milliseconds / 1000;
/** Metrics are never worth failing the work they measure. */
function quietly(record: () => void): void {
  try {
    record();
  } catch {
    // A value prom-client refuses is dropped.
  }
}

const usable = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;

/** The metrics of one worker process and the registry `/metrics` serves. */
export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly registers = [this.registry];
  readonly messages = new Counter({
    name: 'ragmail_messages_total',
    help: 'Messages settled by a consumer role, by outcome (processed, retried, dead_lettered, requeued, held: back in the queue during an outage).',
    labelNames: ['role', 'queue', 'outcome'] as const,
    registers: this.registers,
  });
  readonly messageStatuses = new Counter({
    name: 'ragmail_message_status_total',
    help: 'Messages settled by a consumer role, by the handler status or error code.',
    labelNames: ['role', 'status'] as const,
    registers: this.registers,
  });
  readonly messageDuration = new Histogram({
    name: 'ragmail_message_duration_seconds',
    help: 'Time from delivery to settlement of a message.',
    labelNames: ['role', 'outcome'] as const,
    buckets: DURATION_BUCKETS,
    registers: this.registers,
  });
  readonly consumerCancellations = new Counter({
    name: 'ragmail_consumer_cancellations_total',
    help: 'Consumers the broker cancelled (their queue deleted, or its node lost), each then subscribed again, by queue.',
    labelNames: ['queue'] as const,
    registers: this.registers,
  });
  readonly stageEvents = new Counter({
    name: 'ragmail_stage_events_total',
    help: 'Stage outcomes published to the events exchange by this process.',
    labelNames: ['role', 'stage'] as const,
    registers: this.registers,
  });
  readonly stageDuration = new Histogram({
    name: 'ragmail_stage_duration_seconds',
    help: 'Duration of a pipeline stage, as reported by its event.',
    labelNames: ['stage'] as const,
    buckets: DURATION_BUCKETS,
    registers: this.registers,
  });
  readonly llmDuration = new Histogram({
    name: 'ragmail_llm_request_duration_seconds',
    help: 'Latency of successful language-model calls.',
    labelNames: ['provider', 'model', 'operation'] as const,
    buckets: LLM_BUCKETS,
    registers: this.registers,
  });
  readonly llmTokens = new Counter({
    name: 'ragmail_llm_tokens_total',
    help: 'Language-model tokens, by direction (input, output).',
    labelNames: ['provider', 'model', 'direction'] as const,
    registers: this.registers,
  });
  readonly llmErrors = new Counter({
    name: 'ragmail_llm_errors_total',
    help: 'Failed language-model calls.',
    labelNames: ['provider', 'model', 'operation', 'retryable'] as const,
    registers: this.registers,
  });
  readonly retrievalDuration = new Histogram({
    name: 'ragmail_retrieval_duration_seconds',
    help: 'Latency of vector-store queries.',
    labelNames: ['provider'] as const,
    buckets: RETRIEVAL_BUCKETS,
    registers: this.registers,
  });
  readonly retrievalTopScore = new Histogram({
    name: 'ragmail_retrieval_top_score',
    help: 'Best relevance score (0 to 1) of each vector-store query; 0 when nothing was found.',
    labelNames: ['provider'] as const,
    buckets: SCORE_BUCKETS,
    registers: this.registers,
  });
  /** Mailboxes the sender has reported on in this process, for the send-quota gauge. */
  readonly mailboxesSeen = new Set<string>();

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'ragmail_' });
    // prom-client's `_total` gauges break the convention promtool checks (`_total` only on counters);
    // each is the sum of the per-type gauge of the same name without it.
    for (const kind of ['handles', 'requests', 'resources']) this.registry.removeSingleMetric(`ragmail_nodejs_active_${kind}_total`);
  }

  /** Records one `settled` event of the consumer runtime. */
  observeSettled(info: SettledInfo): void {
    this.messages.inc({ role: info.role, queue: info.queue, outcome: info.outcome });
    this.messageStatuses.inc({ role: info.role, status: info.status });
    if (usable(info.durationMs)) this.messageDuration.observe({ role: info.role, outcome: info.outcome }, seconds(info.durationMs));
  }

  /** Records one published pipeline event. */
  observeEvent(event: PipelineEvent): void {
    this.stageEvents.inc({ role: event.role, stage: event.stage });
    if (usable(event.duration_ms)) this.stageDuration.observe({ stage: event.stage }, seconds(event.duration_ms));
    if (event.role === 'sender' && event.agent_email) this.mailboxesSeen.add(event.agent_email);
  }

  /** Follows a ConsumerRuntime's `settled` events. */
  observeRuntime(runtime: EventEmitter): void {
    runtime.on('settled', (info: SettledInfo) => quietly(() => this.observeSettled(info)));
  }

  /** Follows the pipeline events published through a Broker (see PIPELINE_EVENT) and its cancelled consumers. */
  observeBroker(broker: EventEmitter): void {
    // A throwing listener would fail the publish it observes.
    broker.on(PIPELINE_EVENT, (event: PipelineEvent) => quietly(() => this.observeEvent(event)));
    broker.on(CONSUMER_CANCELLED, ({ queue }: { queue: string }) => quietly(() => this.consumerCancellations.inc({ queue })));
  }

  /** The text exposition format, as `/metrics` serves it. */
  metrics(): Promise<string> {
    return this.registry.metrics();
  }
}

/** A registry of its own with every ragmail metric and Node's process metrics. */
export function createWorkerMetrics(): WorkerMetrics {
  return new WorkerMetrics();
}

/**
 * Wraps a language model so each call records its latency and tokens under the provider and
 * model that answered, and each failure under the wrapped model. Wrap each provider before the
 * fallback chain (`createFallbackModel(models.map((model) => instrumentLanguageModel(model,
 * metrics)), logger)`) to see every provider's failures too.
 */
export function instrumentLanguageModel(model: LanguageModel, metrics: WorkerMetrics): LanguageModel {
  async function measured<T>(operation: 'classify' | 'reply', call: () => Promise<ModelResult<T>>): Promise<ModelResult<T>> {
    let result: ModelResult<T>;
    try {
      result = await call();
    } catch (error) {
      metrics.llmErrors.inc({ provider: model.provider, model: model.model, operation, retryable: String(isRetryable(error)) });
      throw error;
    }
    const labels = { provider: result.provider, model: result.model };
    // The provider's own latency: right even when a fallback chain is wrapped and an earlier provider failed first.
    if (usable(result.latency_ms)) metrics.llmDuration.observe({ ...labels, operation }, seconds(result.latency_ms));
    if (usable(result.usage?.input_tokens)) metrics.llmTokens.inc({ ...labels, direction: 'input' }, result.usage.input_tokens);
    if (usable(result.usage?.output_tokens)) metrics.llmTokens.inc({ ...labels, direction: 'output' }, result.usage.output_tokens);
    return result;
  }
  return {
    provider: model.provider,
    model: model.model,
    classify: (email, options) => measured('classify', () => model.classify(email, options)),
    reply: (input, options) => measured('reply', () => model.reply(input, options)),
  };
}

/**
 * Wraps a vector store so each query records its latency and its best score. Retrieval for one
 * email makes two queries (see rag/retrieve.ts), so these are per query, not per email; the
 * `retrieved` stage in ragmail_stage_duration_seconds is the per-email time.
 */
export function instrumentVectorStore(store: VectorStore, metrics: WorkerMetrics): VectorStore {
  return {
    provider: store.provider,
    name: store.name,
    upsert: (namespace, chunks) => store.upsert(namespace, chunks),
    deleteDocument: (namespace, documentId) => store.deleteDocument(namespace, documentId),
    replaceDocument: (namespace, documentId, batches) => store.replaceDocument(namespace, documentId, batches),
    close: () => store.close(),
    async query(namespace, text, k) {
      const started = performance.now();
      const chunks = await store.query(namespace, text, k);
      metrics.retrievalDuration.observe({ provider: store.provider }, seconds(performance.now() - started));
      const topScore = Math.max(0, ...chunks.map((chunk) => chunk.score).filter(usable));
      metrics.retrievalTopScore.observe({ provider: store.provider }, Math.min(topScore, 1));
      return chunks;
    },
  };
}

/** What the management API says about one queue (ManagementClient.queues() returns these). */
export interface QueueSnapshot {
  name: string;
  /** Absent until the broker has computed the queue's statistics. */
  messages?: number;
  consumers?: number;
}

/** Options of {@link registerQueueGauges}. */
export interface QueueGaugeOptions {
  /** Lists the queues of the vhost, e.g. `() => new ManagementClient(config).queues()`. */
  queues: () => Promise<QueueSnapshot[]>;
  /** A management API slower than this counts as down for this scrape. Default 2000 ms. */
  timeoutMs?: number;
  /** One answer (or failure) serves every scrape within this time. Default 5000 ms. */
  cacheMs?: number;
}

/**
 * Adds `ragmail_queue_messages{queue}` and `ragmail_queue_consumers{queue}`, read from the
 * management API when scraped, and `ragmail_management_up`. When the API fails or is slow the
 * queue gauges are absent and `ragmail_management_up` is 0: a scrape never waits longer than the
 * timeout.
 */
export function registerQueueGauges(metrics: WorkerMetrics, options: QueueGaugeOptions): void {
  const timeoutMs = options.timeoutMs ?? 2_000;
  const cacheMs = options.cacheMs ?? 5_000;
  // A lookup in flight is shared too, so the gauges of one scrape never ask twice.
  let cached: { at: number; answer: Promise<QueueSnapshot[] | undefined>; done: boolean } | undefined;
  const snapshot = () => {
    if (!cached || (cached.done && Date.now() - cached.at >= cacheMs)) {
      const entry = { at: Date.now(), answer: fetchWithin(options.queues, timeoutMs), done: false };
      void entry.answer.finally(() => {
        entry.done = true;
      });
      cached = entry;
    }
    return cached.answer;
  };
  const registers = [metrics.registry];
  const perQueue = (name: string, help: string, field: 'messages' | 'consumers') => {
    const gauge: Gauge<'queue'> = new Gauge({
      name,
      help,
      labelNames: ['queue'] as const,
      registers,
      async collect() {
        const queues = await snapshot();
        gauge.reset();
        for (const queue of queues ?? []) if (usable(queue[field])) gauge.set({ queue: queue.name }, queue[field]);
      },
    });
  };
  perQueue('ragmail_queue_messages', 'Messages in a queue of this vhost (ready and unacknowledged), from the management API.', 'messages');
  perQueue('ragmail_queue_consumers', 'Consumers of a queue of this vhost, from the management API.', 'consumers');
  const up: Gauge = new Gauge({
    name: 'ragmail_management_up',
    help: '1 when the RabbitMQ management API answered the last queue lookup in time, else 0.',
    registers,
    async collect() {
      up.set((await snapshot()) ? 1 : 0);
    },
  });
}

/** The queues, or undefined when the lookup failed or did not answer within `timeoutMs`. */
async function fetchWithin(queues: () => Promise<QueueSnapshot[]>, timeoutMs: number): Promise<QueueSnapshot[] | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(resolve, timeoutMs, undefined);
  });
  try {
    return await Promise.race([queues().catch(() => undefined), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Options of {@link registerQuotaGauge}. */
export interface QuotaGaugeOptions {
  ledger: Pick<SendLedger, 'quotaRemaining'>;
  /** The daily quota (DAILY_SEND_QUOTA). */
  limit: number;
  /** The mailboxes to report, asked at each scrape (e.g. those the sender has seen). */
  mailboxes: () => Iterable<string>;
}

/** Adds `ragmail_send_quota_remaining{agent_email}`, read from the send ledger when scraped. */
export function registerQuotaGauge(metrics: WorkerMetrics, options: QuotaGaugeOptions): void {
  const gauge: Gauge<'agent_email'> = new Gauge({
    name: 'ragmail_send_quota_remaining',
    help: 'Replies a mailbox may still send today (UTC) under DAILY_SEND_QUOTA.',
    labelNames: ['agent_email'] as const,
    registers: [metrics.registry],
    async collect() {
      gauge.reset();
      // A closed or busy database leaves the gauge empty rather than failing the whole scrape.
      try {
        for (const agentEmail of new Set(options.mailboxes())) {
          const remaining = await options.ledger.quotaRemaining(agentEmail, options.limit);
          quietly(() => gauge.set({ agent_email: agentEmail }, remaining));
        }
      } catch {
        gauge.reset();
      }
    },
  });
}

/** Adds `ragmail_recorder_projecting`: 1 while this recorder projects the audit stream, 0 while it stands by. */
export function registerRecorderGauge(metrics: WorkerMetrics, projecting: () => boolean): void {
  const gauge: Gauge = new Gauge({
    name: 'ragmail_recorder_projecting',
    help: 'Whether this recorder projects events.audit (1) or stands by while another does (0).',
    registers: [metrics.registry],
    collect() {
      gauge.set(projecting() ? 1 : 0);
    },
  });
}
