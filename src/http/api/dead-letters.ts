/**
 * The dead-letter queue: list what failed, replay chosen entries to their work queue, or discard
 * them (src/messaging/dead-letters.ts; entries are chosen by id, the rest stay in place).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DeadLetterQueueBusyError, listDeadLetters, purgeDeadLetters, replayDeadLetters, type DeadLetterOutcome } from '../../messaging/dead-letters.js';
import { parseInput, type ApiContext } from './context.js';
import { ApiError } from './errors.js';

const selection = z.object({ ids: z.array(z.string().min(1)).min(1, 'choose at least one entry').max(10_000) });

/** Runs a dead-letter operation; a busy queue is a conflict, an unreachable broker a 503. */
async function deadLetterCall<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof DeadLetterQueueBusyError) throw new ApiError(409, 'dead_letter_queue_busy', error.message, error);
    throw new ApiError(503, 'broker_unavailable', `cannot read the dead-letter queue: ${(error as Error).message}`, error);
  }
}

/** What was done, what failed, and ids that were not (or no longer) in the queue. */
function report(ids: string[], outcome: DeadLetterOutcome) {
  const seen = new Set([...outcome.done, ...outcome.failed.map(({ entry }) => entry)].map((entry) => entry.id));
  return {
    done: outcome.done.map((entry) => entry.id),
    failed: [
      ...outcome.failed.map(({ entry, error }) => ({ id: entry.id, error })),
      ...[...new Set(ids)].filter((id) => !seen.has(id)).map((id) => ({ id, error: 'not in the dead-letter queue (already replayed or discarded?)' })),
    ],
  };
}

export function deadLetterRoutes(context: ApiContext) {
  const source = { config: context.config };

  return async (app: FastifyInstance): Promise<void> => {
    app.get('/dead-letters', async () => ({ entries: await deadLetterCall(() => listDeadLetters(source)) }));

    app.post('/dead-letters/replay', async (request) => {
      const { ids } = parseInput(selection, request.body);
      const wanted = new Set(ids);
      const outcome = await deadLetterCall(() => replayDeadLetters({ ...source, broker: context.broker }, (entry) => wanted.has(entry.id)));
      const { done, failed } = report(ids, outcome);
      context.logger.info('dead letters replayed', { replayed: done.length, failed: failed.length, by: request.operator });
      return { replayed: done, failed };
    });

    app.post('/dead-letters/discard', async (request) => {
      const { ids } = parseInput(selection, request.body);
      const wanted = new Set(ids);
      const outcome = await deadLetterCall(() => purgeDeadLetters(source, (entry) => wanted.has(entry.id)));
      const { done, failed } = report(ids, outcome);
      context.logger.info('dead letters discarded', { discarded: done.length, by: request.operator });
      return { discarded: done, failed };
    });
  };
}
