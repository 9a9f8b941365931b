/**
 * What the API routes work with, made once per server, and the small helpers they share for
 * reading requests.
 */
import type { ZodType } from 'zod';
import type { Config } from '../../app/config.js';
import type { Logger } from '../../lib/log.js';
import type { Broker } from '../../messaging/broker.js';
import type { Services } from '../../app/services.js';
import { ActivityLog } from '../../store/activity-log.js';
import { DocumentRegistry } from '../../store/documents.js';
import { ReviewQueue } from '../../store/reviews.js';
import { ApiError } from './errors.js';

/** The dependencies of the API routes. */
export interface ApiContext {
  config: Config;
  broker: Broker;
  services: Services;
  logger: Logger;
  activity: ActivityLog;
  documents: DocumentRegistry;
  reviews: ReviewQueue;
}

/** The context over the services of this process. */
export function createApiContext(environment: Pick<ApiContext, 'config' | 'broker' | 'services' | 'logger'>): ApiContext {
  const { database } = environment.services;
  return {
    ...environment,
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
