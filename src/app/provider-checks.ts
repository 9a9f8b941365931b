/**
 * Checks of the credentials and reachability of every provider the configuration chose — the
 * broker, its management API, each language model of the fallback chain, the embedder, the vector
 * store, the mailbox and Redis — one row per provider. A check never throws: whatever goes wrong,
 * including a missing setting, becomes a `failed` row whose detail says what to fix, so one bad
 * provider does not hide the state of the others. `npm run check-providers`
 * (src/cli/check-providers.ts) prints them all; a worker checks its language models at start. Here,
 * in the composition root, because both need it and a worker must not depend on a command
 * (docs/ARCHITECTURE.md#layers).
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Redis } from 'ioredis';
import type { Config } from './config.js';
import type { Logger } from '../lib/log.js';
import { RagmailError } from '../lib/errors.js';
import { Broker, redactUrl } from '../messaging/broker.js';
import { ManagementClient } from '../messaging/management.js';
import {
  anthropicSettings,
  createUncachedEmbedder,
  embeddingModelName,
  gmailSettings,
  geminiSettings,
  imapSettings,
  openaiSettings,
  requireSetting,
} from './providers.js';
import { runProviderCheck, type ProviderCheck } from '../providers/provider-check.js';
import { checkGemini } from '../providers/llm/gemini.js';
import { checkAnthropic } from '../providers/llm/anthropic.js';
import { checkOpenAI } from '../providers/llm/openai.js';
import type { Embedder } from '../providers/embeddings/spec.js';
import { checkPinecone } from '../providers/vector-store/pinecone.js';
import { createSqliteVectorStore } from '../providers/vector-store/sqlite.js';
import { checkGmail } from '../providers/mailbox/gmail.js';
import { checkMailServers } from '../providers/mailbox/mail-servers.js';

/** What the check of one provider found: one row of the table. */
export interface ProviderCheckRow {
  /** The implementation, e.g. `gemini`, `pinecone`, `rabbitmq`. */
  provider: string;
  /** What it is used for, e.g. `llm`, `embeddings`, `vector store`. */
  kind: string;
  /** `skipped`: not configured, so not checked (e.g. Redis without REDIS_URL). */
  status: 'ok' | 'failed' | 'skipped';
  /** Time the check took, in ms; null when nothing was sent over the network. */
  latencyMs: number | null;
  /** What was found, or what to fix. */
  detail: string;
}

/** No single check waits longer than this, whatever the configured timeouts: a check is interactive. */
const CHECK_TIMEOUT_MS = 10_000;
/** Text embedded to check the embedder: a few tokens. */
const EMBEDDING_PROBE = 'ragmail provider check';

type Check = Omit<ProviderCheckRow, 'provider' | 'kind'>;

/** Why something failed, in one line: a RagmailError's code and message, never a stack trace. */
function describe(error: unknown): string {
  if (error instanceof RagmailError) return `${error.code}: ${error.message}`;
  const cause = error instanceof Error && error.cause instanceof Error ? ` (${error.cause.message})` : '';
  return `${error instanceof Error ? error.message : String(error)}${cause}`;
}

function fromProviderCheck(check: ProviderCheck): Check {
  return { status: check.ok ? 'ok' : 'failed', latencyMs: check.ok || check.latencyMs > 0 ? check.latencyMs : null, detail: check.detail };
}

/** Runs `check`; a setting missing before anything was sent shows as failed with no latency. */
async function guarded(check: () => Promise<Check>): Promise<Check> {
  try {
    return await check();
  } catch (error) {
    return { status: 'failed', latencyMs: null, detail: describe(error) };
  }
}

async function timed(probe: () => Promise<string>): Promise<Check> {
  return fromProviderCheck(await runProviderCheck(probe, describe));
}

function checkBroker(config: Config, logger: Logger): Promise<Check> {
  return timed(async () => {
    const broker = new Broker({ ...config, AMQP_CONNECT_TIMEOUT_MS: Math.min(config.AMQP_CONNECT_TIMEOUT_MS, CHECK_TIMEOUT_MS / 2) }, logger);
    try {
      await broker.start();
      return `connected to ${redactUrl(config.AMQP_URL)}, topology declared`;
    } finally {
      await broker.close().catch(() => undefined);
    }
  });
}

function checkManagement(config: Config): Promise<Check> {
  return timed(async () => {
    try {
      const overview = await new ManagementClient(config).request<{ rabbitmq_version?: string; cluster_name?: string }>('GET', 'overview');
      return `RabbitMQ ${overview.rabbitmq_version ?? '(version unknown)'} on ${overview.cluster_name ?? 'an unnamed cluster'}`;
    } catch (error) {
      // The client's own message names the path and status, not the URL it was given.
      throw new Error(`${redactUrl(config.RABBITMQ_MANAGEMENT_URL)}: ${describe(error)}`);
    }
  });
}

/**
 * What a store compares with its contents (provider, model, dimensions), without a client: the
 * stores' checks read only these, and a missing Gemini key is the embedder row's to report.
 */
function embedderIdentity(config: Config): Embedder {
  return {
    provider: config.EMBEDDING_PROVIDER,
    model: embeddingModelName(config),
    dimensions: config.EMBEDDING_DIMENSIONS,
    embed: () => Promise.reject(new Error('the provider check embeds nothing through the store')),
  };
}

function checkEmbedder(config: Config): Promise<Check> {
  return guarded(async () => {
    if (config.EMBEDDING_PROVIDER === 'none') throw new Error('EMBEDDING_PROVIDER=none has no embedder to check');
    const embedder = createUncachedEmbedder({ ...config, LLM_TIMEOUT_MS: Math.min(config.LLM_TIMEOUT_MS, CHECK_TIMEOUT_MS) }, config.EMBEDDING_PROVIDER);
    return timed(async () => {
      const [vector] = await embedder.embed([EMBEDDING_PROBE]);
      return `model ${embedder.model} returns ${vector.length}-dimension vectors`;
    });
  });
}

function checkVectorStore(config: Config): Promise<Check> {
  return guarded(async () => {
    if (config.VECTOR_STORE === 'pinecone') {
      const apiKey = requireSetting(config, 'PINECONE_API_KEY', 'VECTOR_STORE=pinecone');
      if (config.EMBEDDING_PROVIDER === 'none') {
        return { status: 'failed', latencyMs: null, detail: 'VECTOR_STORE=pinecone needs an embedding provider: set EMBEDDING_PROVIDER=gemini or openai' };
      }
      return fromProviderCheck(
        await checkPinecone({
          apiKey,
          index: config.PINECONE_INDEX,
          indexHost: config.PINECONE_INDEX_HOST || undefined,
          controllerHost: config.PINECONE_CONTROLLER_HOST || undefined,
          embedder: embedderIdentity(config),
          timeoutMs: CHECK_TIMEOUT_MS,
        }),
      );
    }
    return timed(async () => {
      // Opening the store is the check: the file, its schema, sqlite-vec and the embedding model it was built with.
      const embedder = config.EMBEDDING_PROVIDER === 'none' ? undefined : embedderIdentity(config);
      const store = createSqliteVectorStore({ path: config.VECTOR_DB_PATH, embedder });
      await store.close();
      return `${config.VECTOR_DB_PATH} opened${embedder ? `, vectors of ${embedder.model}/${embedder.dimensions}` : ', lexical retrieval'}`;
    });
  });
}

function checkMailbox(config: Config): Promise<Check> {
  return guarded(async () => {
    if (config.MAILBOX_PROVIDER === 'gmail') {
      return fromProviderCheck(await checkGmail({ ...gmailSettings(config), retries: 0, timeoutMs: CHECK_TIMEOUT_MS }));
    }
    if (config.MAILBOX_PROVIDER === 'imap') {
      const settings = imapSettings(config);
      return fromProviderCheck(await checkMailServers({ ...settings, timeoutMs: CHECK_TIMEOUT_MS }, settings.mailbox ?? 'INBOX'));
    }
    return timed(async () => {
      const root = config.MAILDIR_ROOT;
      // The poller creates the folders on first use; a probe file proves it may write there.
      await mkdir(root, { recursive: true });
      const probe = path.join(root, `.check-${process.pid}-${Date.now()}`);
      await writeFile(probe, 'ragmail provider check\n');
      await rm(probe, { force: true });
      return `${root} is writable`;
    });
  });
}

function checkRedis(url: string): Promise<Check> {
  return timed(async () => {
    const client = new Redis(url, {
      lazyConnect: true,
      connectTimeout: CHECK_TIMEOUT_MS / 2,
      commandTimeout: CHECK_TIMEOUT_MS / 2,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    // The socket's error (ECONNREFUSED, a bad password) says more than the rejection of connect().
    let socketError: unknown;
    client.on('error', (error: unknown) => (socketError = error));
    const address = redactUrl(url);
    try {
      await client.connect().catch((error: unknown) => {
        throw new Error(`${address}: ${describe(socketError ?? error)}`);
      });
      const pong = await client.ping();
      const version = /redis_version:(\S+)/.exec(await client.info('server'))?.[1] ?? 'unknown';
      return `${pong} from ${address} (Redis ${version})`;
    } finally {
      client.disconnect();
    }
  });
}

/** One check per model of LLM_PROVIDERS, started at once. */
function languageModelChecks(config: Config, timeoutMs: number): Array<{ provider: string; kind: string; check: Promise<Check> }> {
  return config.llmProviders.map((name) => ({
    provider: name,
    kind: 'llm',
    check:
      name === 'gemini'
        ? guarded(async () => fromProviderCheck(await checkGemini({ ...geminiSettings(config), model: config.GEMINI_MODEL, timeoutMs })))
        : name === 'anthropic'
          ? guarded(async () => fromProviderCheck(await checkAnthropic({ ...anthropicSettings(config), timeoutMs })))
          : name === 'openai'
            ? guarded(async () => fromProviderCheck(await checkOpenAI({ ...openaiSettings(config), timeoutMs })))
            : Promise.resolve<Check>({ status: 'ok', latencyMs: null, detail: 'deterministic rules in this process, no key, no network' }),
  }));
}

/**
 * At a worker's start: a model whose key is refused is reported loudly then, not only later in
 * dead-letter reasons. The worker still starts, so the rest of the chain can answer.
 */
export async function reportLanguageModelProblems(config: Config, logger: Logger): Promise<void> {
  if (config.llmProviders.every((name) => name === 'local')) return;
  const checks = languageModelChecks(config, Math.min(config.LLM_TIMEOUT_MS, CHECK_TIMEOUT_MS));
  for (const { provider, check } of checks) {
    const result = await check;
    if (result.status === 'failed')
      logger.error(`language model ${provider} failed its start-up check; calls to it will fail`, { provider, detail: result.detail });
  }
}

/**
 * Checks every configured provider, all at once, and returns one row each in a fixed order.
 * Never throws.
 */
export async function checkProviders(config: Config, logger: Logger): Promise<ProviderCheckRow[]> {
  const checkTimeoutMs = Math.min(config.LLM_TIMEOUT_MS, CHECK_TIMEOUT_MS);
  // googleapis takes about a second to load, which would block the event loop during every
  // concurrent check and count in all their latencies: loaded first, the latencies are the network's.
  if (config.MAILBOX_PROVIDER === 'gmail') await import('googleapis').catch(() => undefined);
  const pending: Array<{ provider: string; kind: string; check: Promise<Check> }> = [
    { provider: 'rabbitmq', kind: 'broker', check: checkBroker(config, logger) },
    { provider: 'rabbitmq', kind: 'management api', check: checkManagement(config) },
  ];
  pending.push(...languageModelChecks(config, checkTimeoutMs));
  pending.push({
    provider: config.EMBEDDING_PROVIDER,
    kind: 'embeddings',
    check:
      config.EMBEDDING_PROVIDER === 'none'
        ? Promise.resolve<Check>({ status: 'skipped', latencyMs: null, detail: 'EMBEDDING_PROVIDER=none: lexical retrieval only' })
        : checkEmbedder(config),
  });
  pending.push({ provider: config.VECTOR_STORE, kind: 'vector store', check: checkVectorStore(config) });
  pending.push({ provider: config.MAILBOX_PROVIDER, kind: 'mailbox', check: checkMailbox(config) });
  pending.push({
    provider: 'redis',
    kind: 'cache, send claims',
    check: config.REDIS_URL
      ? checkRedis(config.REDIS_URL)
      : Promise.resolve<Check>({ status: 'skipped', latencyMs: null, detail: 'REDIS_URL not set: in-process cache, send claims in the local ledger' }),
  });
  const results = await Promise.all(pending.map(({ check }) => guarded(() => check)));
  return pending.map(({ provider, kind }, index) => ({ provider, kind, ...results[index] }));
}
