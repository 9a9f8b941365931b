/**
 * The project's own path for one email, in this process and with nothing sent: parseEmail (as the
 * poller reads mail), then the classifier, responder and sender handlers as the workers build them,
 * the broker and event stream replaced by captures.
 *
 * Everything the run writes goes to a temporary DATA_DIR: the sender's mailbox is a Maildir there
 * (never the configured mailbox, whatever MAILBOX_PROVIDER says), and so are its database (claims,
 * quota) and the cache (no Redis). Only the vector store and the language model are the configured
 * ones, and the store is only queried. The send policy is forced to auto and the rate and quota
 * lifted, so the sender's own `decide` says what auto mode would do.
 */
import { randomUUID } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../app/config.js';
import type { Logger } from '../lib/log.js';
import type { HandlerContext } from '../messaging/consumer.js';
import type { EventFields } from '../pipeline/events.js';
import type { ToClassifyMessage, ToRespondMessage, ToSendMessage } from '../pipeline/messages.js';
import { parseEmail } from '../providers/mailbox/mime.js';
import { emailParseLimits } from '../app/providers.js';
import type { ScoredChunk } from '../providers/vector-store/spec.js';
import { retrieveForEmail } from '../rag/retrieve.js';
import { createClassifierHandler } from '../roles/classifier.js';
import { createIngesterHandler } from '../roles/ingester.js';
import { createResponderHandler } from '../roles/responder.js';
import { createSenderHandler } from '../roles/sender.js';
import { Services } from '../app/services.js';
import type { PipelineResult } from './pipeline-result.js';

/** Depth of retrieval for recall@1/3/5, independent of RETRIEVAL_K. */
export const RECALL_DEPTH = 5;

export interface EvalEmail {
  id: string;
  from: string;
  subject: string;
  body: string;
  headers?: Record<string, string>;
}

export interface Harness {
  config: Config;
  agentEmail: string;
  /** Ingests one PDF into the agent's namespace with the ingester's own handler (dev set only). */
  ingest(file: string, name: string): Promise<void>;
  /** The top chunks for an email, as the responder asks for them, `depth` deep. */
  retrieve(email: EvalEmail, depth: number): Promise<ScoredChunk[]>;
  /** The classifier's verdict alone. */
  classify(email: EvalEmail): Promise<{ is_support: boolean; review: boolean; automated: string | null }>;
  run(email: EvalEmail): Promise<PipelineResult>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  agentEmail: string;
  /** The environment the workers would read (process.env). */
  env: NodeJS.ProcessEnv;
  /** true: a fresh SQLite vector store in the temporary folder (dev set); false: the configured store. */
  freshStore: boolean;
  logger: Logger;
}

/** An RFC 5322 message, so the email goes through the same parser as polled mail. */
function rawEmail(agentEmail: string, e: EvalEmail): string {
  const headers = { From: e.from, To: agentEmail, Subject: e.subject, 'Message-ID': `<${e.id}.${randomUUID()}@eval.ragmail>`, Date: 'Mon, 01 Jan 2024 09:00:00 +0000', 'Content-Type': 'text/plain; charset=utf-8', ...e.headers };
  return `${Object.entries(headers).map(([name, value]) => `${name}: ${value}`).join('\r\n')}\r\n\r\n${e.body}\r\n`;
}

export async function openHarness({ agentEmail, env, freshStore, logger }: HarnessOptions): Promise<Harness> {
  const configured = loadConfig(env);
  const dataDir = await mkdtemp(path.join(tmpdir(), 'ragmail-eval-'));
  const config = loadConfig({
    ...env, DATA_DIR: dataDir, MAILDIR_ROOT: '', DATABASE_PATH: '', DATABASE_URL: '', DATABASE_URL_FILE: '', DATABASE_PASSWORD: '', DATABASE_PASSWORD_FILE: '', UPLOAD_DIR: '',
    VECTOR_DB_PATH: freshStore ? '' : configured.VECTOR_DB_PATH,
    ...(freshStore ? { VECTOR_STORE: 'sqlite' } : {}),
    MAILBOX_PROVIDER: 'maildir', REDIS_URL: '', SEND_POLICY: 'auto', MAILBOX_POLICIES: '',
    SEND_RATE_PER_MINUTE: '100000', SEND_BURST: '100000', DAILY_SEND_QUOTA: '100000',
  });
  const services = new Services(config, logger);

  let published: unknown[] = [];
  let events: EventFields[] = [];
  const context: HandlerContext = {
    role: 'eval', logger, signal: new AbortController().signal, attempt: 1, priority: undefined,
    broker: { publish: async (_stage: unknown, message: unknown) => { published.push(message); } } as unknown as HandlerContext['broker'],
    emit: async (fields) => { events.push(fields); },
    forward: async (_stage, message, carried) => { published.push(message); events.push(...carried); },
  };
  const envelope = () => ({ message_id: randomUUID(), timestamp: new Date().toISOString(), original_message_id: null });

  // Dependencies as src/app/registry.ts builds them for the workers.
  const classifier = createClassifierHandler({ model: services.model });
  const responder = createResponderHandler({ model: services.model, store: services.vectorStore, k: config.RETRIEVAL_K, relevanceThreshold: config.RELEVANCE_THRESHOLD, config });
  const sender = createSenderHandler({
    config,
    mailbox: services.mailbox,
    claims: await services.sendClaims(),
    ledger: await services.sendLedger(),
    reviews: { get: async () => undefined },
  });

  const parse = (e: EvalEmail) => parseEmail(rawEmail(agentEmail, e), { agentEmail, mailboxRef: e.id, limits: emailParseLimits(config) });

  async function classifyMessage(e: EvalEmail) {
    const { email, automated } = await parse(e);
    published = [];
    events = [];
    const outcome = await classifier({ ...envelope(), email } satisfies ToClassifyMessage, context);
    return { email, automated, outcome, toRespond: published[0] as ToRespondMessage | undefined, verdict: events.at(-1)?.detail };
  }

  async function runOnce(e: EvalEmail): Promise<PipelineResult> {
    const classified = await classifyMessage(e);
    const base = { automated: classified.automated, is_support: classified.outcome.status === 'classified', reply: null };
    if (classified.automated) return { ...base, decision: 'ignored', reason: `automated mail, the poller skips it: ${classified.automated}`, confidence: null };
    if (!classified.toRespond) {
      const verdict = classified.verdict as { category?: string; confidence?: number } | undefined;
      return { ...base, decision: 'ignored', reason: `not support (${verdict?.category ?? 'no category'})`, confidence: verdict?.confidence ?? null };
    }
    published = [];
    events = [];
    await responder(classified.toRespond, context);
    const toSend = published[0] as ToSendMessage;
    // The pages the reply cites (the responder's check), not merely the passages it was given.
    const replied = events.find((event) => event.stage === 'replied')?.detail as { citations?: Array<{ source: string; page: number }> } | undefined;
    events = [];
    const outcome = await sender(toSend, context);
    const detail = events.at(-1)?.detail as { reason?: unknown } | undefined;
    const decision = (['sent', 'drafted', 'handed_off'] as const).find((stage) => stage === outcome.status);
    return {
      ...base,
      decision: decision ?? 'error',
      reason: decision ? (typeof detail?.reason === 'string' ? detail.reason : '') : `sender outcome ${outcome.status}`,
      confidence: toSend.classification.confidence,
      reply: {
        subject: toSend.generated_response.subject,
        body: toSend.generated_response.body,
        top_score: toSend.generated_response.top_score,
        cited: (replied?.citations ?? []).map((citation) => ({ manual: citation.source, page: citation.page })),
      },
    };
  }

  return {
    config,
    agentEmail,
    async ingest(file, name) {
      await mkdir(config.UPLOAD_DIR, { recursive: true });
      const stored = path.join(config.UPLOAD_DIR, `${randomUUID()}.pdf`);
      await copyFile(file, stored);
      const ingester = createIngesterHandler({
        store: services.vectorStore, uploadDir: config.UPLOAD_DIR, chunkSize: config.CHUNK_SIZE, chunkOverlap: config.CHUNK_OVERLAP,
        pdfLimits: {
          maxPages: config.MAX_PDF_PAGES, maxPageChars: config.PDF_MAX_PAGE_CHARS, maxDocumentChars: config.PDF_MAX_DOCUMENT_CHARS,
          timeoutMs: config.PDF_PARSE_TIMEOUT_MS, maxMemoryMb: config.PDF_PARSE_MAX_MEMORY_MB,
        },
        maxChunks: config.PDF_MAX_CHUNKS,
      });
      await ingester({ ...envelope(), document_id: name, agent_email: agentEmail, filename: name, path: stored }, context);
    },
    async retrieve(e, depth) {
      const { email } = await parse(e);
      return retrieveForEmail(services.vectorStore, agentEmail, email, depth);
    },
    async classify(e) {
      // An email routed on with a review reason is not "called support": the classifier was unsure.
      const { automated, toRespond } = await classifyMessage(e);
      const classification = toRespond?.classification;
      return { is_support: classification?.is_support_inquiry === true, review: classification?.review_reason !== undefined, automated };
    },
    async run(e) {
      try {
        return await runOnce(e);
      } catch (error) {
        return { decision: 'error', reason: (error as Error).message, automated: null, is_support: null, confidence: null, reply: null };
      }
    },
    async close() {
      await services.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
