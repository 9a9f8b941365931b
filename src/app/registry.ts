/**
 * The roles a worker can run, each a {@link RoleDefinition}: its `--role` name, its kind and how it
 * starts. Consumer roles run their handler inside the shared consumer runtime; the poller and the
 * recorder run loops of their own; the api serves HTTP. The worker (src/app/worker.ts) reads only
 * the definitions, never a role's name (docs/ARCHITECTURE.md#shutdown).
 */
import type { Config } from './config.js';
import type { Broker } from '../messaging/broker.js';
import { ConsumerRuntime, type Handler } from '../messaging/consumer.js';
import { toClassify, toIngest, toRespond, toSend, type WorkStage } from '../pipeline/stages.js';
import type { Logger } from '../lib/log.js';
import { registerQuotaGauge, registerRecorderGauge, type WorkerMetrics } from '../observability/metrics.js';
import type { Services } from './services.js';
import { PublishedEmails } from '../store/published-emails.js';
import { ReviewQueue } from '../store/reviews.js';
import { ROLE_DESCRIPTIONS, ROLE_NAMES, type RoleName } from './role-names.js';

export { ROLE_NAMES, type RoleName };

/**
 * How the worker treats a role: a `producer` brings new work in and is stopped first, so nothing
 * new enters while the others drain; a `consumer` works off a queue or stream; a `service` answers
 * requests.
 */
export type RoleKind = 'producer' | 'consumer' | 'service';

/** What a role gives back once started. */
export interface RoleHandle {
  stop(): Promise<void>;
  /** Present on consumer roles. */
  runtime?: ConsumerRuntime<unknown>;
  /**
   * Settles once the role is up; rejects when it cannot start (e.g. the api's port is taken).
   * Absent on roles that are up as soon as startRole returns.
   */
  ready?: Promise<void>;
  /** The api role's `http://<API_HOST>:<port>`, set once `ready` resolved. */
  url?: string;
}

/** A started role, with its name and kind. */
export interface RunningRole extends RoleHandle {
  readonly name: RoleName;
  readonly kind: RoleKind;
}

/** What every role is started with: the worker's configuration, broker, services and metrics. */
export interface RoleEnvironment {
  config: Config;
  broker: Broker;
  services: Services;
  logger: Logger;
  /** This process's metrics, for a role that adds its own. */
  metrics?: WorkerMetrics;
}

/** One role: its `--role` name, how the worker treats it, and how it starts. */
export interface RoleDefinition {
  name: RoleName;
  kind: RoleKind;
  /** One line for `--help`. */
  description: string;
  /** True when the role calls the language models: the worker checks their credentials at start. */
  usesLanguageModel?: boolean;
  /** Loads the role's code (a worker loads only the roles it runs) and starts it. */
  start(environment: RoleEnvironment): Promise<RoleHandle>;
}

function consumerRole<T>(
  name: RoleName,
  stage: WorkStage<T>,
  handle: Handler<T>,
  concurrency: number,
  prefetch: number,
  environment: RoleEnvironment,
): RoleHandle {
  const { config, broker, logger } = environment;
  const runtime = new ConsumerRuntime<T>({ role: name, stage, handle, concurrency, prefetch: prefetch || concurrency }, broker, logger, {
    maxAttempts: config.MAX_ATTEMPTS,
    retryBaseDelayMs: config.RETRY_BASE_DELAY_MS,
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
    maxDeliveries: config.MAX_DELIVERIES,
    outage: { limitMs: config.OUTAGE_LIMIT_MS, basePauseMs: config.RETRY_BASE_DELAY_MS, maxPauseMs: config.OUTAGE_MAX_PAUSE_MS, maxHolds: 10 },
  });
  runtime.start();
  return { stop: () => runtime.stop(), runtime: runtime as ConsumerRuntime<unknown> };
}

/** Every role, by name. */
export const ROLES: { readonly [Name in RoleName]: RoleDefinition & { name: Name } } = {
  classifier: {
    name: 'classifier',
    kind: 'consumer',
    description: ROLE_DESCRIPTIONS.classifier,
    usesLanguageModel: true,
    start: async (environment) => {
      const { createClassifierHandler } = await import('../roles/classifier.js');
      const { config, services } = environment;
      return consumerRole(
        'classifier',
        toClassify,
        createClassifierHandler({ model: services.model }),
        config.CONCURRENCY_CLASSIFIER,
        config.PREFETCH_CLASSIFIER,
        environment,
      );
    },
  },
  responder: {
    name: 'responder',
    kind: 'consumer',
    description: ROLE_DESCRIPTIONS.responder,
    usesLanguageModel: true,
    start: async (environment) => {
      const { createResponderHandler } = await import('../roles/responder.js');
      const { config, services } = environment;
      return consumerRole(
        'responder',
        toRespond,
        createResponderHandler({
          model: services.model,
          store: services.vectorStore,
          k: config.RETRIEVAL_K,
          relevanceThreshold: config.RELEVANCE_THRESHOLD,
          config,
        }),
        config.CONCURRENCY_RESPONDER,
        config.PREFETCH_RESPONDER,
        environment,
      );
    },
  },
  sender: {
    name: 'sender',
    kind: 'consumer',
    description: ROLE_DESCRIPTIONS.sender,
    start: async (environment) => {
      const { createSenderHandler } = await import('../roles/sender.js');
      const { config, services, metrics } = environment;
      const ledger = await services.sendLedger();
      const role = consumerRole(
        'sender',
        toSend,
        createSenderHandler({
          config,
          mailbox: services.mailbox,
          claims: await services.sendClaims(),
          ledger,
          // The API's review queue: in one database with the api role (--role=all, a shared data volume, or PostgreSQL).
          reviews: new ReviewQueue(await services.database()),
        }),
        config.CONCURRENCY_SENDER,
        config.PREFETCH_SENDER,
        environment,
      );
      if (metrics) {
        registerQuotaGauge(metrics, {
          ledger,
          limit: config.DAILY_SEND_QUOTA,
          mailboxes: () => [...config.mailboxPolicies.keys(), ...metrics.mailboxesSeen],
        });
      }
      return role;
    },
  },
  ingester: {
    name: 'ingester',
    kind: 'consumer',
    description: ROLE_DESCRIPTIONS.ingester,
    start: async (environment) => {
      const { createIngesterHandler } = await import('../roles/ingester.js');
      const { config, services } = environment;
      return consumerRole(
        'ingester',
        toIngest,
        createIngesterHandler({
          store: services.vectorStore,
          uploadDir: config.UPLOAD_DIR,
          chunkSize: config.CHUNK_SIZE,
          chunkOverlap: config.CHUNK_OVERLAP,
          pdfLimits: {
            maxPages: config.MAX_PDF_PAGES,
            maxPageChars: config.PDF_MAX_PAGE_CHARS,
            maxDocumentChars: config.PDF_MAX_DOCUMENT_CHARS,
            timeoutMs: config.PDF_PARSE_TIMEOUT_MS,
            maxMemoryMb: config.PDF_PARSE_MAX_MEMORY_MB,
          },
          maxChunks: config.PDF_MAX_CHUNKS,
        }),
        config.CONCURRENCY_INGESTER,
        config.PREFETCH_INGESTER,
        environment,
      );
    },
  },
  poller: {
    name: 'poller',
    kind: 'producer',
    description: ROLE_DESCRIPTIONS.poller,
    start: async ({ config, services, broker, logger }) => {
      const { runPoller } = await import('../roles/poller.js');
      const abort = new AbortController();
      const loop = runPoller(
        {
          mailbox: services.mailbox,
          broker,
          published: new PublishedEmails(await services.database()),
          logger,
          batchSize: config.POLL_BATCH_SIZE,
        },
        config.POLL_INTERVAL_MS,
        abort.signal,
      );
      logger.info('polling', { every_ms: config.POLL_INTERVAL_MS, mailbox: services.mailbox.provider });
      return {
        stop: async () => {
          abort.abort();
          await loop;
        },
      };
    },
  },
  recorder: {
    name: 'recorder',
    kind: 'consumer',
    description: ROLE_DESCRIPTIONS.recorder,
    start: async ({ config, services, broker, logger, metrics }) => {
      const { startRecorder } = await import('../roles/recorder.js');
      const recorder = startRecorder({
        broker,
        database: await services.database(),
        logger,
        start: config.AUDIT_STREAM_START,
        takeoverIntervalMs: config.RECORDER_TAKEOVER_INTERVAL_MS,
      });
      if (metrics) registerRecorderGauge(metrics, () => recorder.projecting);
      return { stop: () => recorder.stop() };
    },
  },
  api: {
    name: 'api',
    kind: 'service',
    description: ROLE_DESCRIPTIONS.api,
    start: async ({ config, broker, services, logger }) => {
      const [{ startApiServer }, { evaluationCommand }] = await Promise.all([import('../http/api/server.js'), import('./evaluation-command.js')]);
      const server = startApiServer({ config, broker, services, logger, evaluationCommand: evaluationCommand(config) });
      const role: RoleHandle = {
        ready: server.then((started) => {
          role.url = started.url;
        }),
        // A server that never started has nothing to close.
        stop: async () => {
          await (await server.catch(() => undefined))?.close();
        },
      };
      return role;
    },
  },
};

/** Starts one role in this process, its log lines marked with its name. */
export async function startRole(name: RoleName, environment: RoleEnvironment): Promise<RunningRole> {
  const definition = ROLES[name];
  const handle = await definition.start({ ...environment, logger: environment.logger.child({ role: name }) });
  // The same object, so what a role sets on its handle later (the api's url) shows on the running role.
  return Object.assign(handle, { name, kind: definition.kind });
}
