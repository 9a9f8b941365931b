/**
 * The whole pipeline as worker processes on a benchmark vhost, with the zero-latency embedded
 * providers (local LLM, Maildir, SQLite lexical retrieval, no Redis): all roles in one process or
 * one process per role. It ingests manuals, takes a backlog of emails from the Maildir to the
 * reply, and says how fast, where the messages waited and which process was busy.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/app/config.js';
import { createLogger } from '../../src/lib/log.js';
import { Broker } from '../../src/messaging/broker.js';
import { submitDocument } from '../../src/features/documents.js';
import { ActivityReader, REPLIED_STATES, waitUntil, type EmailPassage } from './activity.js';
import { MANAGEMENT_URL, type BenchVhost } from './bench-vhost.js';
import { deliverBacklog, type OutgoingEmail } from './emails.js';
import { listenForDocumentEvents, sampleQueueDepths } from './broker-watch.js';
import { startCpuWindow } from './machine-cpu.js';
import { spawnWorker, type WorkerProcess } from './worker-processes.js';

export const PIPELINE_MODES = ['one-process', 'per-role'] as const;
export type PipelineMode = (typeof PIPELINE_MODES)[number];

/** Per-role start order: consumers before the poller, so nothing waits for a consumer to boot. */
export const PER_ROLE_ORDER = ['recorder', 'ingester', 'sender', 'responder', 'classifier', 'poller'] as const;

/** Options of {@link startPipeline}. */
export interface PipelineSettings {
  mode: PipelineMode;
  /** LOG_LEVEL of the workers; `info` is what a deployment runs. */
  logLevel: string;
  pollIntervalMs: number;
  /** More environment for every worker (e.g. CONCURRENCY_CLASSIFIER). */
  env?: Record<string, string>;
  /** Workers run the compiled CLI (dist/) rather than the sources through tsx. Default false. */
  compiled?: boolean;
}

/**
 * The environment of every worker. The send limits are lifted because they exist to protect a
 * real mailbox; with them the benchmark would measure the token bucket (60 replies a minute).
 */
export function pipelineEnvironment(vhost: BenchVhost, settings: PipelineSettings): Record<string, string> {
  return {
    AMQP_URL: vhost.amqpUrl,
    RABBITMQ_MANAGEMENT_URL: MANAGEMENT_URL,
    DATA_DIR: path.join(vhost.dataDir, 'data'),
    LOG_LEVEL: settings.logLevel,
    POLL_INTERVAL_MS: String(settings.pollIntervalMs),
    LLM_PROVIDERS: 'local',
    MAILBOX_PROVIDER: 'maildir',
    VECTOR_STORE: 'sqlite',
    EMBEDDING_PROVIDER: 'none',
    REDIS_URL: '',
    SEND_POLICY: 'auto',
    MAILBOX_POLICIES: '',
    SEND_RATE_PER_MINUTE: '100000000',
    SEND_BURST: '100000000',
    DAILY_SEND_QUOTA: '100000000',
    ...settings.env,
  };
}

/** Figures of one backlog taken through the pipeline. */
export interface BacklogResult {
  emails: number;
  /** Emails by final state. */
  states: Record<string, number>;
  /** Emails that passed all three queues and got a reply file (sent, drafted or handed off). */
  replied: number;
  /** From the first `received` to the last final event, in seconds. */
  windowSeconds: number;
  emailsPerSecond: number;
  /** 3 per replied email (to_classify, to_respond, to_send), 1 per email ignored at classification. */
  hopsPerSecond: number;
  passages: EmailPassage[];
  /** Most messages waiting in each email queue at once (sampled every 100 ms). */
  maxQueueDepth: Record<string, number>;
  /** CPU used per process during the run, in cores (1 = one core busy all the time). */
  cpuCores: Record<string, number>;
  /** CPU milliseconds each process (and `rabbitmq`, the broker) spent per email of the backlog. */
  cpuMsPerEmail: Record<string, number>;
  /** CPU used by the whole machine (2 cores, shared) and by RabbitMQ during the run, in cores. */
  machineCores: number;
  brokerCores: number;
  /** Longest delay between an event and its row in the activity log. */
  recorderLagMs: number;
}

/** One document taken in by the ingester, from its `ingested` event. */
export interface IngestedDocument {
  documentId: string;
  pages: number;
  chunks: number;
  /** The ingester's own time: read, PDF text, chunking, vector store (the event's `duration_ms`). */
  handlerMs: number;
  /** From the upload to the `ingested` event, queueing included. */
  endToEndMs: number;
  /** Peak resident size of the child process that read the PDF, in MiB (the event's `reader_peak_mib`). */
  readerPeakMiB?: number;
}

/** Worker processes on a benchmark vhost, and what the benchmarks do with them. */
export interface RunningPipeline {
  /** The configuration every worker runs with (paths of the Maildir, databases, uploads). */
  config: Config;
  processes: WorkerProcess[];
  /** The activity log the recorder writes, read by the benchmark. */
  activity: ActivityReader;
  /** Uploads manuals through the upload path and waits until each is (re-)ingested. */
  ingest(manuals: Array<{ agentEmail: string; file: string }>, timeoutMs?: number): Promise<IngestedDocument[]>;
  /** Delivers `emails` as one backlog and waits until each finished. */
  runBacklog(emails: OutgoingEmail[]): Promise<BacklogResult>;
  /** Peak resident memory of each process, in MiB. */
  peakMemory(): Record<string, number>;
  /** Stops every worker gracefully (SIGTERM). */
  stop(): Promise<void>;
}

/** Starts the workers one by one (each until /readyz answers), so nothing waits for a consumer to boot. */
export async function startPipeline(vhost: BenchVhost, settings: PipelineSettings): Promise<RunningPipeline> {
  const env = pipelineEnvironment(vhost, settings);
  const config = loadConfig(env);
  const roles = settings.mode === 'one-process' ? ['all'] : [...PER_ROLE_ORDER];
  const processes: WorkerProcess[] = [];
  const stopAll = async () => {
    await Promise.all(processes.map((worker) => worker.stop()));
  };
  let activity: ActivityReader;
  let broker: Broker | undefined;
  try {
    for (const role of roles) {
      const worker = await spawnWorker(role, env, vhost.dataDir, { compiled: settings.compiled });
      processes.push(worker);
      await worker.ready();
    }
    activity = await ActivityReader.open(config.DATABASE_URL || config.DATABASE_PATH);
  } catch (error) {
    await stopAll();
    throw error;
  }

  return {
    config,
    processes,
    activity,
    async ingest(manuals, timeoutMs = 600_000) {
      broker ??= new Broker(config, createLogger({ level: 'error', format: 'json', role: 'bench' }));
      await broker.start();
      // Document events are not in the activity log (only the registry's status is): listen to the events exchange.
      const listener = await listenForDocumentEvents(config.AMQP_URL);
      try {
        const submitted: Array<{ documentId: string; submittedAtMs: number }> = [];
        for (const manual of manuals) {
          const data = await readFile(manual.file);
          const submittedAtMs = Date.now();
          const message = await submitDocument(broker, config.UPLOAD_DIR, { agentEmail: manual.agentEmail, filename: path.basename(manual.file), data });
          submitted.push({ documentId: message.document_id, submittedAtMs });
        }
        return await Promise.all(
          submitted.map(async ({ documentId, submittedAtMs }) => {
            const event = await listener.next(documentId, timeoutMs);
            if (event.stage !== 'ingested') throw new Error(`ingestion of ${documentId} failed: ${JSON.stringify(event.detail)}`);
            const detail = event.detail as { pages?: number; chunks?: number; reader_peak_mib?: number };
            return {
              documentId,
              pages: detail.pages ?? 0,
              chunks: detail.chunks ?? 0,
              handlerMs: event.duration_ms ?? Number.NaN,
              endToEndMs: Date.parse(event.timestamp) - submittedAtMs,
              readerPeakMiB: detail.reader_peak_mib,
            };
          }),
        );
      } finally {
        await listener.close();
      }
    },
    async runBacklog(emails) {
      const ids = emails.map((email) => email.emailId);
      const cpuBefore = processes.map((worker) => worker.cpuSeconds());
      const sampler = await sampleQueueDepths(config.AMQP_URL);
      const cpu = startCpuWindow();
      const started = Date.now();
      await deliverBacklog(config.MAILDIR_ROOT, path.join(vhost.dataDir, 'staging'), emails);
      try {
        await waitUntil(async () => {
          const finished = await activity.finishedCount(ids);
          return { done: finished >= emails.length, progress: finished };
        }, `the backlog of ${emails.length} emails`);
      } finally {
        await sampler.stop();
      }
      const wallSeconds = (Date.now() - started) / 1000;
      const { machineCores, brokerCores } = cpu.stop();
      const cpuUsed = processes.map((worker, index) => worker.cpuSeconds() - cpuBefore[index]);
      const cpuCores = Object.fromEntries(processes.map((worker, index) => [worker.role, cpuUsed[index] / wallSeconds]));
      const cpuMsPerEmail = Object.fromEntries(processes.map((worker, index) => [worker.role, (cpuUsed[index] * 1000) / emails.length]));
      cpuMsPerEmail.rabbitmq = (brokerCores * wallSeconds * 1000) / emails.length;
      const passages = await activity.passages(ids);
      const windowSeconds = (Math.max(...passages.map((passage) => passage.finalMs)) - Math.min(...passages.map((passage) => passage.receivedMs))) / 1000;
      const states = await activity.statesOf(ids);
      const replied = REPLIED_STATES.reduce((total, state) => total + (states[state] ?? 0), 0);
      const hops = 3 * replied + (states.ignored ?? 0);
      return {
        emails: emails.length,
        states,
        replied,
        windowSeconds,
        emailsPerSecond: passages.length / windowSeconds,
        hopsPerSecond: hops / windowSeconds,
        passages,
        maxQueueDepth: sampler.maxDepth,
        cpuCores,
        cpuMsPerEmail,
        machineCores,
        brokerCores,
        recorderLagMs: await activity.recorderLagMs(ids),
      };
    },
    peakMemory() {
      return Object.fromEntries(processes.map((worker) => [worker.role, worker.memory().peakMiB]));
    },
    async stop() {
      await broker?.close();
      await activity.close();
      await stopAll();
    },
  };
}
