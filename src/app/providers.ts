/**
 * Chooses provider implementations from configuration alone. Roles receive the results and know
 * only the contracts in each `spec.ts`. It lives in the composition root because it reads the whole
 * configuration and knows every implementation (docs/ARCHITECTURE.md#layers).
 */
import path from 'node:path';
import type { Config } from './config.js';
import type { Logger } from '../lib/log.js';
import { permanentError } from '../lib/errors.js';
import type { LanguageModel } from '../providers/llm/spec.js';
import { createLocalModel } from '../providers/llm/local.js';
import { createFallbackModel } from '../providers/llm/fallback.js';
import { openaiDialect } from '../providers/llm/openai-dialect.js';
import { createRedactingModel } from '../providers/llm/redacting.js';
import type { Embedder } from '../providers/embeddings/spec.js';
import { createCachedEmbedder } from '../providers/embeddings/cached.js';
import type { VectorStore } from '../providers/vector-store/spec.js';
import { createSqliteVectorStore } from '../providers/vector-store/sqlite.js';
import { createCachedVectorStore } from '../providers/vector-store/cached.js';
import type { Mailbox } from '../providers/mailbox/spec.js';
import { createMaildirMailbox } from '../providers/mailbox/maildir.js';
import { createGmailMailbox } from '../providers/mailbox/gmail.js';
import { fixedAccessToken, refreshingAccessToken, rotatedRefreshTokenFile, type AccessTokens } from '../providers/mailbox/access-token.js';
import type { ImapMailbox, ImapMailboxSettings } from '../providers/mailbox/imap.js';
import type { EmailParseLimits } from '../providers/mailbox/mime.js';
import type { Cache } from '../providers/cache/spec.js';
import { createMemoryCache } from '../providers/cache/memory.js';
import type { SendClaims } from '../providers/claims/spec.js';
import { createLocalClaims } from '../providers/claims/local.js';
import type { SendLedger } from '../store/send-ledger.js';

/** A secret the configuration must hold for the provider it chose; the error names the variable. */
export function requireSetting(config: Config, name: keyof Config, forWhat: string): string {
  const value = config[name];
  if (typeof value !== 'string' || value === '') {
    throw permanentError('configuration_missing', `${forWhat} needs ${String(name)}: set it in the environment or .env`);
  }
  return value;
}

export function geminiSettings(config: Config) {
  return {
    apiKey: requireSetting(config, 'GEMINI_API_KEY', 'the gemini provider'),
    baseUrl: config.GEMINI_BASE_URL || undefined,
    timeoutMs: config.LLM_TIMEOUT_MS,
  };
}

export function anthropicSettings(config: Config) {
  return {
    apiKey: requireSetting(config, 'ANTHROPIC_API_KEY', 'the anthropic provider'),
    model: config.ANTHROPIC_MODEL,
    baseUrl: config.ANTHROPIC_BASE_URL || undefined,
    timeoutMs: config.LLM_TIMEOUT_MS,
  };
}

/** OpenAI itself needs a key; a compatible server named by OPENAI_BASE_URL may need none. */
export function openaiSettings(config: Config) {
  return {
    apiKey: config.OPENAI_BASE_URL
      ? config.OPENAI_API_KEY
      : requireSetting(config, 'OPENAI_API_KEY', 'the openai provider (or set OPENAI_BASE_URL for a local server)'),
    model: config.OPENAI_MODEL,
    baseUrl: config.OPENAI_BASE_URL || undefined,
    responseFormat: config.OPENAI_RESPONSE_FORMAT,
    dialect: openaiDialect(config.OPENAI_BASE_URL || undefined),
    timeoutMs: config.LLM_TIMEOUT_MS,
  };
}

/**
 * A provider whose module (and SDK or client library: 10-35 MiB each) is loaded when it is
 * configured and first needed, not when the process starts: a worker on the embedded defaults
 * never loads them. Its settings are read now, so a missing key still stops the start with the
 * variable's name.
 */
/** `load` once; a failed load is not kept, so the next call tries again. */
function once<T>(load: () => Promise<T>): () => Promise<T> {
  let loaded: Promise<T> | undefined;
  return () =>
    (loaded ??= load().catch((error: unknown) => {
      loaded = undefined;
      throw error;
    }));
}

function lazyModel(provider: string, model: string, load: () => Promise<LanguageModel>): LanguageModel {
  const get = once(load);
  return {
    provider,
    model,
    classify: async (email, options) => (await get()).classify(email, options),
    reply: async (input, options) => (await get()).reply(input, options),
  };
}

function lazyEmbedder(provider: string, model: string, dimensions: number, load: () => Promise<Embedder>): Embedder {
  const get = once(load);
  return { provider, model, dimensions, embed: async (texts, options) => (await get()).embed(texts, options) };
}

/**
 * The IMAP mailbox, its module (imapflow) loaded at once but not awaited: in the background of the
 * start, so a process whose mailbox is not IMAP never loads it. Nothing connects before a call, as
 * with the mailbox itself.
 */
function lazyImapMailbox(load: () => Promise<ImapMailbox>): ImapMailbox {
  const get = once(load);
  // A failed load is told by the first call, which loads again.
  get().catch(() => undefined);
  return {
    provider: 'imap',
    addresses: async () => (await get()).addresses(),
    fetchNew: async (limit) => (await get()).fetchNew(limit),
    markTaken: async (email) => (await get()).markTaken(email),
    findReply: async (agentEmail, messageId) => (await get()).findReply(agentEmail, messageId),
    send: async (reply, progress) => (await get()).send(reply, progress),
    fileSent: async (reply) => (await get()).fileSent(reply),
    saveDraft: async (reply) => (await get()).saveDraft(reply),
    deleteDraft: async (agentEmail, messageId) => (await get()).deleteDraft(agentEmail, messageId),
    waitForNew: async (maxWaitMs, signal) => {
      const mailbox = await get();
      await mailbox.waitForNew?.(maxWaitMs, signal);
    },
    close: async () => (await get().catch(() => undefined))?.close(),
  };
}

/** The Redis cache, its module (ioredis) loaded at once in the background, so it connects as soon as before. */
function lazyRedisCache(load: () => Promise<Cache>): Cache {
  const get = once(load);
  get().catch(() => undefined);
  return {
    provider: 'redis',
    get: async (key) => (await get()).get(key),
    set: async (key, value, ttlSeconds) => (await get()).set(key, value, ttlSeconds),
    close: async () => (await get().catch(() => undefined))?.close(),
  };
}

function lazyVectorStore(provider: string, name: string, load: () => Promise<VectorStore>): VectorStore {
  let loaded: Promise<VectorStore> | undefined;
  const loadOnce = once(load);
  const get = () => (loaded = loadOnce());
  return {
    provider,
    name,
    upsert: async (namespace, chunks) => (await get()).upsert(namespace, chunks),
    deleteDocument: async (namespace, documentId) => (await get()).deleteDocument(namespace, documentId),
    replaceDocument: async (namespace, documentId, batches) => (await get()).replaceDocument(namespace, documentId, batches),
    query: async (namespace, text, k) => (await get()).query(namespace, text, k),
    close: async () => {
      // Never loaded, or its load failed: nothing to close.
      const store = await loaded?.catch(() => undefined);
      await store?.close();
    },
  };
}

/** The chain of LLM_PROVIDERS; `wrap` (e.g. metrics) goes around each provider, so each is seen apart. */
export function createLanguageModel(config: Config, logger: Logger, wrap: (model: LanguageModel) => LanguageModel = (model) => model): LanguageModel {
  // Only text leaving for an outside API is redacted; the local model runs in this process.
  const redacted = (model: LanguageModel): LanguageModel =>
    config.REDACT_BEFORE_LLM
      ? createRedactingModel(model, {
          onRedacted: (findings, provider) =>
            logger.debug('redacted the email before the language model', {
              provider,
              removed: Object.entries(findings).map(([kind, count]) => `${count} ${kind}`),
            }),
        })
      : model;
  const models = config.llmProviders.map((name): LanguageModel => {
    switch (name) {
      case 'gemini': {
        const settings = { ...geminiSettings(config), model: config.GEMINI_MODEL };
        return redacted(lazyModel('gemini', settings.model, async () => (await import('../providers/llm/gemini.js')).createGeminiModel(settings)));
      }
      case 'anthropic': {
        const settings = anthropicSettings(config);
        return redacted(lazyModel('anthropic', settings.model, async () => (await import('../providers/llm/anthropic.js')).createAnthropicModel(settings)));
      }
      case 'openai': {
        const settings = openaiSettings(config);
        return redacted(lazyModel('openai', settings.model, async () => (await import('../providers/llm/openai.js')).createOpenAIModel(settings)));
      }
      default:
        return createLocalModel();
    }
  });
  return createFallbackModel(models.map(wrap), logger);
}

export function createEmbedder(config: Config, cache: Cache): Embedder | undefined {
  if (config.EMBEDDING_PROVIDER === 'none') return undefined;
  return createCachedEmbedder(createUncachedEmbedder(config, config.EMBEDDING_PROVIDER), cache, config.CACHE_TTL_SECONDS);
}

/** The embedder EMBEDDING_PROVIDER names, talking to its API on every call. */
export function createUncachedEmbedder(config: Config, provider: 'gemini' | 'openai'): Embedder {
  const dimensions = config.EMBEDDING_DIMENSIONS;
  if (provider === 'openai') {
    const settings = { ...openaiSettings(config), model: config.OPENAI_EMBEDDING_MODEL, dimensions };
    return lazyEmbedder('openai', settings.model, dimensions, async () => (await import('../providers/embeddings/openai.js')).createOpenAIEmbedder(settings));
  }
  const settings = { ...geminiSettings(config), model: config.GEMINI_EMBEDDING_MODEL, dimensions };
  return lazyEmbedder('gemini', settings.model, dimensions, async () => (await import('../providers/embeddings/gemini.js')).createGeminiEmbedder(settings));
}

/** The embedding model EMBEDDING_PROVIDER uses, e.g. `text-embedding-3-small`. */
export function embeddingModelName(config: Config): string {
  return config.EMBEDDING_PROVIDER === 'openai' ? config.OPENAI_EMBEDDING_MODEL : config.GEMINI_EMBEDDING_MODEL;
}

export function pineconeSettings(config: Config, embedder: Embedder) {
  return {
    apiKey: requireSetting(config, 'PINECONE_API_KEY', 'VECTOR_STORE=pinecone'),
    index: config.PINECONE_INDEX,
    indexHost: config.PINECONE_INDEX_HOST || undefined,
    controllerHost: config.PINECONE_CONTROLLER_HOST || undefined,
    embedder,
  };
}

export function createVectorStore(config: Config, cache: Cache, embedder: Embedder | undefined): VectorStore {
  if (config.VECTOR_STORE === 'pinecone') {
    if (!embedder) throw permanentError('configuration_missing', 'VECTOR_STORE=pinecone needs an embedding provider: set EMBEDDING_PROVIDER=gemini or openai');
    // Pinecone is eventually consistent: results right after a change are not cached.
    const settings = pineconeSettings(config, embedder);
    const pinecone = lazyVectorStore('pinecone', settings.index, async () =>
      (await import('../providers/vector-store/pinecone.js')).createPineconeVectorStore(settings),
    );
    return createCachedVectorStore(pinecone, cache, config.CACHE_TTL_SECONDS, { freshnessLagMs: 10_000 });
  }
  const store = createSqliteVectorStore({ path: config.VECTOR_DB_PATH, embedder });
  // A per-process cache cannot see another process's ingest: cache results only when shared.
  return config.REDIS_URL ? createCachedVectorStore(store, cache, config.CACHE_TTL_SECONDS) : store;
}

export function gmailSettings(config: Config, logger?: Logger) {
  const user = requireSetting(config, 'GMAIL_USER', 'MAILBOX_PROVIDER=gmail');
  const auth = config.GMAIL_SERVICE_ACCOUNT_FILE
    ? { serviceAccountKeyFile: config.GMAIL_SERVICE_ACCOUNT_FILE }
    : {
        clientId: requireSetting(config, 'GMAIL_CLIENT_ID', 'Gmail OAuth (or set GMAIL_SERVICE_ACCOUNT_FILE)'),
        clientSecret: requireSetting(config, 'GMAIL_CLIENT_SECRET', 'Gmail OAuth'),
        refreshToken: requireSetting(config, 'GMAIL_REFRESH_TOKEN', 'Gmail OAuth'),
      };
  return {
    user,
    auth,
    processedLabel: config.GMAIL_PROCESSED_LABEL,
    rootUrl: config.GMAIL_ROOT_URL || undefined,
    tokenUrl: config.GMAIL_TOKEN_URL || undefined,
    parseLimits: emailParseLimits(config),
    logger,
  };
}

/** The OAuth2 tokens of both mail servers (one source, one cache): refreshed, fixed, or none (a password login). */
function imapAccessTokens(config: Config): AccessTokens | undefined {
  if (config.IMAP_OAUTH2_REFRESH_TOKEN) {
    const needs = 'OAuth2 refresh (IMAP_OAUTH2_REFRESH_TOKEN)';
    return refreshingAccessToken({
      tokenUrl: requireSetting(config, 'IMAP_OAUTH2_TOKEN_URL', needs),
      clientId: requireSetting(config, 'IMAP_OAUTH2_CLIENT_ID', needs),
      clientSecret: config.IMAP_OAUTH2_CLIENT_SECRET || undefined,
      refreshToken: config.IMAP_OAUTH2_REFRESH_TOKEN,
      scope: config.IMAP_OAUTH2_SCOPE || undefined,
      rotated: rotatedRefreshTokenFile(path.join(config.DATA_DIR, 'imap-oauth2-refresh-token.json')),
    });
  }
  return config.IMAP_ACCESS_TOKEN ? fixedAccessToken(config.IMAP_ACCESS_TOKEN) : undefined;
}

/** MAILBOX_PROVIDER=imap: the servers, the folders and the address served. */
export function imapSettings(config: Config, logger?: Logger): ImapMailboxSettings {
  const user = requireSetting(config, 'IMAP_USER', 'MAILBOX_PROVIDER=imap');
  const host = requireSetting(config, 'IMAP_HOST', 'MAILBOX_PROVIDER=imap');
  const oauth2 = imapAccessTokens(config);
  const password = oauth2
    ? undefined
    : requireSetting(config, 'IMAP_PASSWORD', 'MAILBOX_PROVIDER=imap (or set IMAP_ACCESS_TOKEN or IMAP_OAUTH2_REFRESH_TOKEN)');
  const address = config.IMAP_ADDRESS || user;
  if (!address.includes('@'))
    throw permanentError('configuration_missing', `IMAP_USER ${user} is not an email address: set IMAP_ADDRESS to the address served`);
  return {
    address,
    imap: { host, port: config.IMAP_PORT, tls: config.IMAP_TLS, user, password, oauth2 },
    smtp: {
      host: config.SMTP_HOST || host,
      port: config.SMTP_PORT,
      tls: config.SMTP_TLS,
      user: config.SMTP_USER || user,
      password: config.SMTP_PASSWORD || password,
      oauth2,
    },
    caFile: config.MAIL_CA_FILE || undefined,
    mailbox: config.IMAP_MAILBOX,
    takenFolder: config.IMAP_TAKEN_FOLDER,
    sentFolder: config.IMAP_SENT_FOLDER,
    draftsFolder: config.IMAP_DRAFTS_FOLDER,
    parseLimits: emailParseLimits(config),
    logger,
  };
}

/** How large an email may be and how long its parse may take, for every mailbox provider. */
export function emailParseLimits(config: Config): EmailParseLimits {
  return { maxBytes: config.MAX_EMAIL_BYTES, timeoutMs: config.EMAIL_PARSE_TIMEOUT_MS };
}

export function createMailbox(config: Config, logger: Logger): Mailbox {
  if (config.MAILBOX_PROVIDER === 'imap') {
    const settings = imapSettings(config, logger);
    return lazyImapMailbox(async () => (await import('../providers/mailbox/imap.js')).createImapMailbox(settings));
  }
  return config.MAILBOX_PROVIDER === 'gmail'
    ? createGmailMailbox(gmailSettings(config, logger))
    : createMaildirMailbox({ root: config.MAILDIR_ROOT, parseLimits: emailParseLimits(config) });
}

export function createCache(config: Config, logger: Logger): Cache {
  const url = config.REDIS_URL;
  if (!url) return createMemoryCache({ maxEntries: 10_000 });
  return lazyRedisCache(async () => (await import('../providers/cache/redis.js')).createRedisCache({ url, logger }));
}

export async function createSendClaims(config: Config, ledger: SendLedger, logger: Logger): Promise<SendClaims> {
  const local = createLocalClaims(ledger);
  if (!config.REDIS_URL) return local;
  const { createRedisClaims } = await import('../providers/claims/redis.js');
  return createRedisClaims({ url: config.REDIS_URL, fallback: local, logger });
}
