/**
 * One case of the fault suite, start to end: worker processes on a broker of their own (a fresh
 * vhost of the shared RabbitMQ, or a private node), the sample manuals ingested, the emails dropped
 * into the Maildir at a steady pace while the case's fault runs, then — once every email has ended
 * and the queues are quiet — the books: {@link accountFor}, printed as one summary line.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import type { Database } from 'better-sqlite3';
import { loadConfig, type Config } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { Broker } from '../../src/messaging/broker.js';
import { listDeadLetters } from '../../src/messaging/dead-letters.js';
import { QUEUES, buildTopology } from '../../src/messaging/topology.js';
import { submitDocument } from '../../src/rag/upload.js';
import { replyFileName } from '../../src/providers/mailbox/maildir.js';
import { replyMessageId } from '../../src/providers/mailbox/mime.js';
import { openDatabase } from '../../src/store/database.js';
import { ActivityLog, isFinal } from '../../src/store/activity-log.js';
import { DocumentRegistry } from '../../src/store/documents.js';
import { createTestVhost, waitFor } from './broker.js';
import { ACME, GLOBEX, SAMPLES, filesIn } from './pipeline.js';
import { FAULT_WORKER_ENVIRONMENT, caseSeed, faultSize, DELIVERY_RATE_PER_SECOND, seconds, type SeededRandom } from './faults.js';
import { buildCorpus, deliverAtPace, type CorpusEmail } from './fault-corpus.js';
import { accountFor, rejectedReasons, summaryLine, type FaultReport } from './fault-accounting.js';
import { ReplyWatch } from './reply-watch.js';
import { WorkerFleet, type FleetRole } from './worker-fleet.js';

/** How a case is set up. */
export interface FaultCaseOptions {
  name: string;
  /** Worker processes to run, one per entry (a role may appear twice). */
  processes: FleetRole[];
  /** Worker environment on top of {@link FAULT_WORKER_ENVIRONMENT}. */
  environment?: Record<string, string>;
  /** A broker of the case's own (`amqp://…/`); default a fresh vhost of the shared RabbitMQ. */
  amqpUrl?: string;
}

/** What a case's body works with. */
export interface FaultRun {
  name: string;
  config: Config;
  fleet: WorkerFleet;
  /** The test's own connection, for uploads and poison messages. */
  broker: Broker;
  database: Database;
  /** Sees every reply the workers write. */
  watch: ReplyWatch;
  random: SeededRandom;
  /** The run's emails (support questions and the rest), not yet delivered. */
  emails: CorpusEmail[];
  /** Delivers `emails` (plus `extra`) while `during` runs, waits until all ended, and accounts for them. */
  flow(options?: FlowOptions): Promise<FaultReport>;
}

export interface FlowOptions {
  /** More emails to mix in (poison), each delivered after a seeded position of the run. */
  extra?: CorpusEmail[];
  /** Called after each delivery with the count; a schedule of faults keys off it. */
  onDelivered?: (count: number) => void | Promise<void>;
  /** A fault running beside the delivery; awaited before the books are made. */
  during?: () => Promise<void>;
  /** Words for the summary line (kills, outage times, ...). */
  describe?: () => string;
}

/** Work and retry queues: all must be empty before the books are made. */
function workQueues(config: Config): string[] {
  const topology = buildTopology({ maxAttempts: config.MAX_ATTEMPTS, retryBaseDelayMs: config.RETRY_BASE_DELAY_MS, eventsMaxAge: config.EVENTS_MAX_AGE });
  return topology.queues.map((queue) => queue.name).filter((name) => name !== QUEUES.deadLetter && name !== QUEUES.audit);
}

/** Messages waiting in the work and retry queues; a new connection each time, so a broker restart does not break it. */
async function queuedMessages(config: Config): Promise<number> {
  const connection = await amqplib.connect(config.AMQP_URL);
  try {
    const channel = await connection.createChannel();
    let total = 0;
    for (const queue of workQueues(config)) total += (await channel.checkQueue(queue)).messageCount;
    return total;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** Waits until every consumer role of the fleet consumes its queue. */
async function waitForConsumers(config: Config, processes: FleetRole[], fleet: WorkerFleet): Promise<void> {
  const queueOf: Record<string, string> = { classifier: QUEUES.toClassify, responder: QUEUES.toRespond, sender: QUEUES.toSend, ingester: QUEUES.toIngest };
  const queues = processes.includes('all') ? Object.values(queueOf) : processes.map((role) => queueOf[role]).filter(Boolean);
  await waitFor(async () => {
    const connection = await amqplib.connect(config.AMQP_URL);
    try {
      const channel = await connection.createChannel();
      for (const queue of queues) if ((await channel.checkQueue(queue)).consumerCount === 0) return false;
      return true;
    } finally {
      await connection.close().catch(() => undefined);
    }
  }, { timeoutMs: 90_000, intervalMs: 250, what: `consumers on ${queues.join(', ')}\n${fleet.describe()}` });
}

/** Uploads the sample manuals and waits until the ingester process has ingested them all. */
async function ingestManuals(run: FaultRun): Promise<void> {
  const documents = new DocumentRegistry(run.database);
  const ids: string[] = [];
  for (const mailbox of [ACME, GLOBEX]) {
    for (const file of await filesIn(path.join(SAMPLES, 'manuals', mailbox), '.pdf')) {
      ids.push((await submitDocument(run.broker, run.config.UPLOAD_DIR, { agentEmail: mailbox, filename: path.basename(file), data: await readFile(file) })).document_id);
    }
  }
  await waitFor(() => ids.every((id) => documents.get(id)?.status === 'ingested'), { timeoutMs: 90_000, intervalMs: 100, what: `the sample manuals ingested\n${run.fleet.describe()}` });
}

/** Waits until every email ended (final in the log, or rejected by the mailbox) and the queues stayed empty for a while. */
async function waitUntilSettled(run: FaultRun, emails: readonly CorpusEmail[], timeoutMs: number): Promise<void> {
  const activity = new ActivityLog(run.database);
  const root = run.config.MAILDIR_ROOT;
  // A reply on disk ends an email too, whatever the log says: the books tell a log that missed it.
  const replied = (email: CorpusEmail) => ['outbox', 'drafts'].some((folder) => existsSync(path.join(root, email.mailbox, folder, replyFileName(replyMessageId(email.emailId, email.mailbox)))));
  const ended = () => {
    const rejected = rejectedReasons(root, [ACME, GLOBEX]);
    return emails.every((email) => rejected.has(email.emailId) || isFinal(activity.getEmail(email.emailId)?.state ?? '') || replied(email));
  };
  const quiet = async () => ended() && (await queuedMessages(run.config)) === 0;
  try {
    await waitFor(quiet, { timeoutMs, intervalMs: 250, what: 'every email ended and the queues empty' });
    // Late copies (a redelivery, a duplicate publish) would show now.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await waitFor(quiet, { timeoutMs: 30_000, intervalMs: 250, what: 'the queues quiet again' });
  } catch (error) {
    // The books below say which emails are missing; the timeout alone says little.
    process.stdout.write(`faults ${run.name}: ${(error as Error).message.split('\n')[0]}\n`);
  }
}

/** Runs `body` on a fresh fault case and always tears it down (workers, broker, folders). */
export async function withFaultRun(options: FaultCaseOptions, body: (run: FaultRun) => Promise<void>): Promise<void> {
  const random = caseSeed(options.name);
  const vhost = options.amqpUrl ? undefined : await createTestVhost({ ...FAULT_WORKER_ENVIRONMENT, ...options.environment, LOG_LEVEL: 'error' });
  const dataDir = vhost?.dataDir ?? mkdtempSync(path.join(tmpdir(), 'ragmail-faults-'));
  const config = vhost?.config ?? loadConfig({
    ...FAULT_WORKER_ENVIRONMENT, ...options.environment, AMQP_URL: options.amqpUrl, DATA_DIR: dataDir, LOG_LEVEL: 'error',
    // No management API on a private node: the queue gauges just read 0.
    RABBITMQ_MANAGEMENT_URL: 'http://guest:guest@127.0.0.1:9',
  });
  // Opened (and migrated) before the workers start, so every process finds the schema in place.
  const database = openDatabase(config.DATABASE_PATH);
  const fleet = new WorkerFleet({
    ...FAULT_WORKER_ENVIRONMENT, ...options.environment,
    AMQP_URL: config.AMQP_URL, RABBITMQ_MANAGEMENT_URL: config.RABBITMQ_MANAGEMENT_URL, DATA_DIR: dataDir,
  });
  const broker = new Broker(config, createLogger({ level: 'error', format: 'json', role: `faults-${options.name}` }));
  const watch = new ReplyWatch(config.MAILDIR_ROOT, [ACME, GLOBEX]);
  const started = Date.now();
  try {
    await broker.start();
    for (const role of options.processes) fleet.start(role);
    const run: FaultRun = {
      name: options.name, config, fleet, broker, database, watch, random,
      emails: buildCorpus(faultSize(), random, randomUUID().slice(0, 8)),
      flow: async ({ extra = [], onDelivered, during, describe } = {}) => {
        const all = [...run.emails];
        for (const email of extra) all.splice(random.integer(0, all.length), 0, email);
        const flowStarted = Date.now();
        await Promise.all([deliverAtPace(config.MAILDIR_ROOT, all, DELIVERY_RATE_PER_SECOND, onDelivered), during?.()]);
        const deliveredIn = seconds(flowStarted);
        await waitUntilSettled(run, all, 60_000 + all.length * 150);
        const report = accountFor(all, { database, maildirRoot: config.MAILDIR_ROOT, watch, deadLetters: await listDeadLetters({ config }) });
        const timing = `set up ${((flowStarted - started) / 1000).toFixed(1)} s, delivered in ${deliveredIn}, ended and quiet ${seconds(flowStarted)} after the first delivery`;
        process.stdout.write(`${summaryLine(options.name, report, [timing, describe?.()].filter(Boolean).join(' | '))}\n`);
        return report;
      },
    };
    // A worker that cannot start (a broken build, a bad setting) fails the case at once.
    await Promise.race([waitForConsumers(config, options.processes, fleet), fleet.died]);
    await Promise.race([ingestManuals(run), fleet.died]);
    try {
      await body(run);
    } catch (error) {
      // What the workers said is the first clue to why the books did not balance.
      process.stdout.write(`faults ${options.name}: worker output (warnings and errors)\n${fleet.describe()}\n`);
      throw error;
    }
  } finally {
    watch.close();
    await fleet.stopAll();
    await broker.close();
    database.close();
    if (vhost) await vhost.cleanup();
    else rmSync(dataDir, { recursive: true, force: true });
  }
}
