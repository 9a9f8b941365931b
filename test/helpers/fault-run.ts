/**
 * One case of the fault suite, start to end: worker processes on a broker of their own (a fresh
 * vhost of the shared RabbitMQ, or a private node), the sample manuals ingested, the emails dropped
 * into the Maildir at a steady pace while the case's faults run, then — once every email has ended,
 * the faults are over and nothing moves any more — the books: {@link accountFor}, printed as one
 * summary line.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import { loadConfig, type Config } from '../../src/app/config.js';
import { createLogger } from '../../src/lib/log.js';
import { Broker } from '../../src/messaging/broker.js';
import { listDeadLetters } from '../../src/messaging/dead-letters.js';
import { QUEUES } from '../../src/messaging/topology.js';
import { openDatabase, type SqlDatabase } from '../../src/store/database.js';
import { DocumentRegistry } from '../../src/store/documents.js';
import { createTestVhost, waitFor } from './broker.js';
import { ACME, GLOBEX, uploadSampleManuals } from './pipeline.js';
import { waitUntilSettled } from './fault-settle.js';
import { FAULT_WORKER_ENVIRONMENT, caseSeed, faultSize, DELIVERY_RATE_PER_SECOND, seconds, type SeededRandom } from './faults.js';
import { buildCorpus, deliverAtPace, type CorpusEmail } from './fault-corpus.js';
import { accountFor, summaryLine, type FaultReport } from './fault-accounting.js';
import { ReplyWatch } from './reply-watch.js';
import { WorkerFleet, type FleetRole } from './worker-fleet.js';

/** How a case is set up. */
export interface FaultCaseOptions {
  name: string;
  /** Worker processes to run, one per entry (a role may appear twice). */
  processes: FleetRole[];
  /** Worker environment on top of {@link FAULT_WORKER_ENVIRONMENT}. */
  environment?: Record<string, string>;
  /** A broker of the case's own (`amqpUrl` may list a cluster's nodes, comma separated), with its management API; default a fresh vhost of the shared RabbitMQ. */
  broker?: { amqpUrl: string; managementUrl: string };
}

/** What a case's body works with. */
export interface FaultRun {
  name: string;
  config: Config;
  fleet: WorkerFleet;
  /** The test's own connection, for uploads and poison messages. */
  broker: Broker;
  database: SqlDatabase;
  /** Sees every reply the workers write. */
  watch: ReplyWatch;
  random: SeededRandom;
  /** The run's emails (support questions and the rest), not yet delivered. */
  emails: CorpusEmail[];
  /** Delivers `emails` (plus `extra`) while the faults happen, waits until all ended and quiet, and accounts for them. */
  flow(options?: FlowOptions): Promise<FaultReport>;
}

/** A fault of the flow, started at a point of the delivery. */
export interface ScheduledFault {
  /** Started once this many emails were delivered. */
  afterDelivered: number;
  /** Faults of one lane run one after the other, in plan order; default one lane for all. */
  lane?: string;
  /** Does the fault, given the count delivered when it was due; the books wait until it ended. */
  run(delivered: number): Promise<void>;
}

export interface FlowOptions {
  /** More emails to mix in (poison), each delivered after a seeded position of the run. */
  extra?: CorpusEmail[];
  /** The faults of the run; every one must fall within the delivery, and all have ended before the books are made. */
  faults?: ScheduledFault[];
  /** Called after each delivery (once the faults due were started) with the count; delivery waits for what it returns. */
  onDelivered?: (count: number) => void | Promise<void>;
  /** Words for the summary line (kills, outage times, ...). */
  describe?: () => string;
}

/**
 * `count` outages of a service, one after the other, each 2 to 5 s (seeded): the first after a seeded
 * share of the mail within `firstBetween`, each next one 40 % of the mail later. `noted` says, for
 * the summary, when each happened and how long the service was away.
 */
export function plannedOutages(
  run: FaultRun,
  options: { count: number; firstBetween: readonly [number, number]; down(): Promise<void>; up(): Promise<void> },
): { faults: ScheduledFault[]; noted: string[] } {
  const size = run.emails.length;
  const noted: string[] = [];
  const faults = Array.from({ length: options.count }, (_, index): ScheduledFault => {
    const afterDelivered = Math.round(run.random.between((options.firstBetween[0] + index * 0.4) * size, (options.firstBetween[1] + index * 0.4) * size));
    const downMs = Math.round(run.random.between(2_000, 5_000));
    return {
      afterDelivered,
      run: async (delivered) => {
        const wentDown = Date.now();
        await options.down();
        await delay(downMs);
        await options.up();
        noted.push(`at ${delivered} delivered for ${seconds(wentDown)}`);
      },
    };
  });
  return { faults, noted };
}

/** Waits until every consumer role of the fleet consumes its queue. */
export async function waitForConsumers(config: Config, processes: FleetRole[], fleet: WorkerFleet): Promise<void> {
  const queueOf: Record<string, string> = { classifier: QUEUES.toClassify, responder: QUEUES.toRespond, sender: QUEUES.toSend, ingester: QUEUES.toIngest };
  const queues = processes.includes('all') ? Object.values(queueOf) : processes.map((role) => queueOf[role]).filter(Boolean);
  await waitFor(
    async () => {
      const connection = await amqplib.connect(config.AMQP_URL);
      try {
        const channel = await connection.createChannel();
        for (const queue of queues) if ((await channel.checkQueue(queue)).consumerCount === 0) return false;
        return true;
      } finally {
        await connection.close().catch(() => undefined);
      }
    },
    { timeoutMs: 90_000, intervalMs: 250, what: `consumers on ${queues.join(', ')}\n${fleet.describe()}` },
  );
}

/** Uploads the sample manuals and waits until the ingester process has ingested them all. */
async function ingestManuals(run: FaultRun): Promise<void> {
  await uploadSampleManuals(
    { broker: run.broker, uploadDir: run.config.UPLOAD_DIR, documents: new DocumentRegistry(run.database) },
    90_000,
    `the sample manuals ingested\n${run.fleet.describe()}`,
  );
}

/** Runs `body` on a fresh fault case and always tears it down (workers, broker, folders). */
export async function withFaultRun(options: FaultCaseOptions, body: (run: FaultRun) => Promise<void>): Promise<void> {
  const random = caseSeed(options.name);
  const vhost = options.broker ? undefined : await createTestVhost({ ...FAULT_WORKER_ENVIRONMENT, ...options.environment, LOG_LEVEL: 'error' });
  const dataDir = vhost?.dataDir ?? mkdtempSync(path.join(tmpdir(), 'ragmail-faults-'));
  const config =
    vhost?.config ??
    loadConfig({
      ...FAULT_WORKER_ENVIRONMENT,
      ...options.environment,
      AMQP_URL: options.broker?.amqpUrl,
      RABBITMQ_MANAGEMENT_URL: options.broker?.managementUrl,
      DATA_DIR: dataDir,
      LOG_LEVEL: 'error',
    });
  // Opened (and migrated) before the workers start, so every process finds the schema in place.
  const database = await openDatabase(config.DATABASE_PATH);
  const fleet = new WorkerFleet({
    ...FAULT_WORKER_ENVIRONMENT,
    ...options.environment,
    // Every node of a cluster, not only the first (config.AMQP_URL).
    AMQP_URL: config.amqpUrls.join(','),
    RABBITMQ_MANAGEMENT_URL: config.RABBITMQ_MANAGEMENT_URL,
    DATA_DIR: dataDir,
  });
  const broker = new Broker(config, createLogger({ level: 'error', format: 'json', role: `faults-${options.name}` }));
  const watch = new ReplyWatch(config.MAILDIR_ROOT, [ACME, GLOBEX]);
  const started = Date.now();
  try {
    await broker.start();
    for (const role of options.processes) fleet.start(role);
    const run: FaultRun = {
      name: options.name,
      config,
      fleet,
      broker,
      database,
      watch,
      random,
      emails: buildCorpus(faultSize(), random, randomUUID().slice(0, 8)),
      flow: async ({ extra = [], faults = [], onDelivered, describe } = {}) => {
        const all = [...run.emails];
        for (const email of extra) all.splice(random.integer(0, all.length), 0, email);
        const due = [...faults].sort((left, right) => left.afterDelivered - right.afterDelivered);
        const lanes = new Map<string, Promise<void>>();
        const delivered = async (count: number) => {
          while (due.length > 0 && due[0]!.afterDelivered <= count) {
            const fault = due.shift()!;
            const lane = (lanes.get(fault.lane ?? '') ?? Promise.resolve()).then(() => fault.run(count));
            // Awaited below; until then a failed fault must not count as an unhandled rejection.
            lane.catch(() => undefined);
            lanes.set(fault.lane ?? '', lane);
          }
          await onDelivered?.(count);
        };
        const flowStarted = Date.now();
        await deliverAtPace(config.MAILDIR_ROOT, all, DELIVERY_RATE_PER_SECOND, delivered);
        const deliveredIn = seconds(flowStarted);
        if (due.length > 0)
          throw new Error(
            `faults planned after ${due.map((fault) => fault.afterDelivered).join(', ')} deliveries, but only ${all.length} emails were delivered`,
          );
        // The books wait for every fault to end (a broker back, a killed worker restarted).
        await Promise.all(lanes.values());
        const settlement = await waitUntilSettled(run, all, 90_000 + all.length * 150);
        const report = await accountFor(all, { database, maildirRoot: config.MAILDIR_ROOT, watch, deadLetters: await listDeadLetters({ config }), settlement });
        const timing = `set up ${((flowStarted - started) / 1000).toFixed(1)} s, delivered in ${deliveredIn}, ${settlement.quiet ? 'ended and quiet' : 'given up on'} ${seconds(flowStarted)} after the first delivery`;
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
    await database.close();
    if (vhost) await vhost.cleanup();
    else rmSync(dataDir, { recursive: true, force: true });
  }
}
