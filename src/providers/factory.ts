/**
 * Chooses provider implementations from configuration. Roles receive the results and know only
 * the contracts in each `spec.ts`.
 */
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { permanentError } from '../errors.js';
import type { LanguageModel } from './llm/spec.js';
import { createLocalModel } from './llm/local.js';
import { createFallbackModel } from './llm/fallback.js';
import type { VectorStore } from './vector-store/spec.js';
import { createSqliteVectorStore } from './vector-store/sqlite.js';
import type { Mailbox } from './mailbox/spec.js';
import { createMaildirMailbox } from './mailbox/maildir.js';

export function createLanguageModel(config: Config, logger: Logger): LanguageModel {
  const models = config.llmProviders.map((name) => {
    if (name === 'local') return createLocalModel();
    throw permanentError('provider_unavailable', `LLM_PROVIDERS names ${name}, which this build does not include yet; use local`);
  });
  return createFallbackModel(models, logger);
}

export function createVectorStore(config: Config): VectorStore {
  return createSqliteVectorStore({ path: config.VECTOR_DB_PATH });
}

export function createMailbox(config: Config): Mailbox {
  return createMaildirMailbox({ root: config.MAILDIR_ROOT });
}
