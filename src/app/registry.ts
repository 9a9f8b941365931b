/**
 * Maps `--role` names to what each role runs. Consumer roles run their handler inside the shared
 * consumer runtime; the poller and the recorder run loops of their own; the api serves HTTP.
 */
import type { Config } from './config.js';
import type { Broker } from '../messaging/broker.js';
import { ConsumerRuntime, type Handler } from '../messaging/consumer.js';
import { toClassify, toIngest, toRespond, toSend, type WorkStage } from '../pipeline/stages.js';
import type { Logger } from '../lib/log.js';
import type { Services } from './services.js';
import { ActivityLog } from '../store/activity-log.js';
import { DocumentRegistry } from '../store/documents.js';
import { PublishedEmails } from '../store/published-emails.js';
import { SendLedger } from '../store/send-ledger.js';
import { ReviewQueue } from '../store/reviews.js';
import { createClassifierHandler } from '../roles/classifier.js';
import { createResponderHandler } from '../roles/responder.js';
import { createSenderHandler } from '../roles/sender.js';
import { createIngesterHandler } from '../roles/ingester.js';
import { runPoller } from '../roles/poller.js';
import { startRecorder } from '../roles/recorder.js';
import { startApiServer } from '../http/api/server.js';

export const ROLE_NAMES = ['classifier', 'responder', 'sender', 'ingester', 'poller', 'recorder', 'api'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

export const ROLE_DESCRIPTIONS: Record<RoleName, string> = {
  classifier: 'emails.to_classify → LLM: support inquiry or not → emails.to_respond',
  responder: 'emails.to_respond → retrieve passages, LLM reply with citations → emails.to_send',
  sender: 'emails.to_send → send policy, rate limit, quota → reply or draft in the thread, exactly once',
  ingester: 'documents.to_ingest → PDF pages → chunks → vector store (one document at a time)',
  poller: 'mailbox → emails.to_classify, with a priority; automated mail skipped',
  recorder: 'events.audit stream → SQLite activity log, document registry and review queue',
  api: 'operator API and dashboard (API_HOST:API_PORT): uploads, timeline, review queue, dead letters',
};

export interface RunningRole {
  name: RoleName;
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

interface RoleEnvironment {
  config: Config;
  broker: Broker;
  services: Services;
  logger: Logger;
}

function consumerRole<T>(
  name: RoleName,
  stage: WorkStage<T>,
  handle: Handler<T>,
  concurrency: number,
  prefetch: number,
  environment: RoleEnvironment,
): RunningRole {
  const { config, broker, logger } = environment;
  const runtime = new ConsumerRuntime<T>({ role: name, stage, handle, concurrency, prefetch: prefetch || concurrency }, broker, logger, {
    maxAttempts: config.MAX_ATTEMPTS,
    retryBaseDelayMs: config.RETRY_BASE_DELAY_MS,
    shutdownGraceMs: config.SHUTDOWN_GRACE_MS,
    maxDeliveries: config.MAX_DELIVERIES,
    outage: { limitMs: config.OUTAGE_LIMIT_MS, basePauseMs: config.RETRY_BASE_DELAY_MS, maxPauseMs: config.OUTAGE_MAX_PAUSE_MS, maxHolds: 10 },
  });
  runtime.start();
  return { name, stop: () => runtime.stop(), runtime: runtime as ConsumerRuntime<unknown> };
}

/** Starts one role in this process. */
export function startRole(name: RoleName, environment: RoleEnvironment): RunningRole {
  const { config, services, broker } = environment;
  const logger = environment.logger.child({ role: name });
  const scoped = { ...environment, logger };
  switch (name) {
    case 'classifier':
      return consumerRole(
        name,
        toClassify,
        createClassifierHandler({ model: services.model }),
        config.CONCURRENCY_CLASSIFIER,
        config.PREFETCH_CLASSIFIER,
        scoped,
      );
    case 'responder':
      return consumerRole(
        name,
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
        scoped,
      );
    case 'sender':
      return consumerRole(
        name,
        toSend,
        createSenderHandler({
          config,
          mailbox: services.mailbox,
          claims: services.sendClaims,
          ledger: new SendLedger(services.database),
          // The API's review queue: in one database with the api role (--role=all, or a shared data volume).
          reviews: new ReviewQueue(services.database),
        }),
        config.CONCURRENCY_SENDER,
        config.PREFETCH_SENDER,
        scoped,
      );
    case 'ingester':
      return consumerRole(
        name,
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
        scoped,
      );
    case 'poller': {
      const abort = new AbortController();
      const loop = runPoller(
        {
          mailbox: services.mailbox,
          broker,
          published: new PublishedEmails(services.database),
          logger,
          batchSize: config.POLL_BATCH_SIZE,
        },
        config.POLL_INTERVAL_MS,
        abort.signal,
      );
      logger.info('polling', { every_ms: config.POLL_INTERVAL_MS, mailbox: services.mailbox.provider });
      return {
        name,
        stop: async () => {
          abort.abort();
          await loop;
        },
      };
    }
    case 'recorder': {
      const handle = startRecorder({
        broker,
        database: services.database,
        activity: new ActivityLog(services.database),
        documents: new DocumentRegistry(services.database),
        reviews: new ReviewQueue(services.database),
        logger,
        start: config.AUDIT_STREAM_START,
      });
      logger.info('recording events from the audit stream');
      return {
        name,
        stop: async () => {
          await handle.cancel();
          await handle.close();
        },
      };
    }
    case 'api': {
      const server = startApiServer({ config, broker, services, logger });
      const role: RunningRole = {
        name,
        ready: server.then((started) => {
          role.url = started.url;
        }),
        // A server that never started has nothing to close.
        stop: async () => {
          await (await server.catch(() => undefined))?.close();
        },
      };
      return role;
    }
  }
}
