/**
 * The services one process shares between its roles, made on first use and closed once.
 */
import type { Config } from './config.js';
import type { Logger } from '../lib/log.js';
import type { LanguageModel } from '../providers/llm/spec.js';
import type { VectorStore } from '../providers/vector-store/spec.js';
import type { Embedder } from '../providers/embeddings/spec.js';
import type { Mailbox } from '../providers/mailbox/spec.js';
import type { Cache } from '../providers/cache/spec.js';
import type { SendClaims } from '../providers/claims/spec.js';
import { createCache, createEmbedder, createLanguageModel, createMailbox, createSendClaims, createVectorStore } from './providers.js';
import { openDatabase, type SqlDatabase } from '../store/database.js';
import { SendLedger } from '../store/send-ledger.js';
import { instrumentLanguageModel, instrumentVectorStore, type WorkerMetrics } from '../observability/metrics.js';

export class Services {
  private readonly cached = new Map<string, unknown>();

  /** `metrics`, when given, times every model call and retrieval of this process. */
  constructor(
    readonly config: Config,
    readonly logger: Logger,
    private readonly metrics?: WorkerMetrics,
  ) {}

  private once<T>(name: string, make: () => T): T {
    if (!this.cached.has(name)) this.cached.set(name, make());
    return this.cached.get(name) as T;
  }

  /** The stores' database: the PostgreSQL one of `DATABASE_URL` when set, else the SQLite file of `DATABASE_PATH`. */
  database(): Promise<SqlDatabase> {
    return this.once('database', () => openDatabase(this.config.DATABASE_URL || this.config.DATABASE_PATH));
  }

  get cache(): Cache {
    return this.once('cache', () => createCache(this.config, this.logger));
  }

  get model(): LanguageModel {
    const metrics = this.metrics;
    return this.once('model', () => createLanguageModel(this.config, this.logger, metrics && ((model) => instrumentLanguageModel(model, metrics))));
  }

  get embedder(): Embedder | undefined {
    return this.once('embedder', () => createEmbedder(this.config, this.cache));
  }

  get vectorStore(): VectorStore {
    return this.once('vectorStore', () => {
      const store = createVectorStore(this.config, this.cache, this.embedder);
      return this.metrics ? instrumentVectorStore(store, this.metrics) : store;
    });
  }

  get mailbox(): Mailbox {
    return this.once('mailbox', () => createMailbox(this.config, this.logger));
  }

  /** The send ledger (claims, daily quota): one per process, for the sender, its claims and the quota gauge. */
  sendLedger(): Promise<SendLedger> {
    return this.once('sendLedger', async () => new SendLedger(await this.database()));
  }

  sendClaims(): Promise<SendClaims> {
    return this.once('sendClaims', async () => createSendClaims(this.config, await this.sendLedger(), this.logger));
  }

  async close(): Promise<void> {
    const get = <T>(name: string) => this.cached.get(name) as T | undefined;
    await get<VectorStore>('vectorStore')?.close();
    await (await get<Promise<SendClaims>>('sendClaims'))?.close();
    await get<Mailbox>('mailbox')?.close?.();
    await get<Cache>('cache')?.close();
    await (await get<Promise<SqlDatabase>>('database'))?.close();
    this.cached.clear();
  }
}
