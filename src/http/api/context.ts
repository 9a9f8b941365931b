/**
 * What the API routes work with, made once per server, and the small helpers they share for
 * reading requests.
 */
import type { ZodType } from 'zod';
import type { Logger } from '../../lib/log.js';
import type { Broker } from '../../messaging/broker.js';
import type { ConnectionSettings } from '../../messaging/connection-options.js';
import type { ManagementTarget } from '../../messaging/management.js';
import type { Mailbox } from '../../providers/mailbox/spec.js';
import type { VectorStore } from '../../providers/vector-store/spec.js';
import { ActivityLog } from '../../store/activity-log.js';
import { DocumentRegistry } from '../../store/documents.js';
import { ReviewQueue } from '../../store/reviews.js';
import type { SqlDatabase } from '../../store/sql.js';
import { ApiError } from './errors.js';
import type { EvaluationCommand } from './evaluation-jobs.js';

/** The settings the API routes read (the variables of the same names); the broker's tools read the AMQP ones. */
export interface ApiSettings extends ConnectionSettings, ManagementTarget {
  /** fastify's `trustProxy` (API_TRUST_PROXY). */
  API_TRUST_PROXY: boolean | string[];
  API_MAX_FAILED_SIGN_INS: number;
  API_MAX_UPLOAD_BYTES: number;
  API_MAX_CONCURRENT_UPLOADS: number;
  UPLOAD_DIR: string;
  /** Evaluations started from the dashboard are kept in `<DATA_DIR>/evaluations/`. */
  DATA_DIR: string;
  /** Below this retrieval score a reply counts as a knowledge gap (the send decision's own floor). */
  AUTO_SEND_MIN_SCORE: number;
}

/** What the API uses of the providers and the database of its process. */
export interface ApiServices {
  database(): Promise<SqlDatabase>;
  vectorStore: VectorStore;
  mailbox: Mailbox;
}

/** The dependencies of the API routes. */
export interface ApiContext {
  config: ApiSettings;
  broker: Broker;
  services: ApiServices;
  logger: Logger;
  /** The stores' database, for the statistics' own queries. */
  database: SqlDatabase;
  activity: ActivityLog;
  documents: DocumentRegistry;
  reviews: ReviewQueue;
  /** How to start `npm run eval` in a child process (src/app/evaluation-command.ts). */
  evaluationCommand: EvaluationCommand;
}

/** The context over the services of this process. */
export async function createApiContext(environment: Pick<ApiContext, 'config' | 'broker' | 'services' | 'logger' | 'evaluationCommand'>): Promise<ApiContext> {
  const database = await environment.services.database();
  return {
    ...environment,
    database,
    activity: new ActivityLog(database),
    documents: new DocumentRegistry(database),
    reviews: new ReviewQueue(database),
  };
}

/** Parses `value` with `schema`, or answers 400 `invalid_request` naming the field. */
export function parseInput<T>(schema: ZodType<T>, value: unknown): T {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  const field = issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  throw new ApiError(400, 'invalid_request', `${field}${issue.message}`);
}
