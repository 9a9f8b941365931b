/**
 * The services one process shares between its roles, made on first use and closed once.
 */
import type { Database } from 'better-sqlite3';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import type { LanguageModel } from './providers/llm/spec.js';
import type { VectorStore } from './providers/vector-store/spec.js';
import type { Mailbox } from './providers/mailbox/spec.js';
import { createLanguageModel, createMailbox, createVectorStore } from './providers/factory.js';
import { openDatabase } from './store/database.js';

export class Services {
  private cached = new Map<string, unknown>();

  constructor(readonly config: Config, readonly logger: Logger) {}

  private once<T>(name: string, make: () => T): T {
    if (!this.cached.has(name)) this.cached.set(name, make());
    return this.cached.get(name) as T;
  }

  get database(): Database {
    return this.once('database', () => openDatabase(this.config.DATABASE_PATH));
  }

  get model(): LanguageModel {
    return this.once('model', () => createLanguageModel(this.config, this.logger));
  }

  get vectorStore(): VectorStore {
    return this.once('vectorStore', () => createVectorStore(this.config));
  }

  get mailbox(): Mailbox {
    return this.once('mailbox', () => createMailbox(this.config));
  }

  async close(): Promise<void> {
    const store = this.cached.get('vectorStore') as VectorStore | undefined;
    await store?.close();
    (this.cached.get('database') as Database | undefined)?.close();
    this.cached.clear();
  }
}
