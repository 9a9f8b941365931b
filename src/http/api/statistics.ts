/**
 * The lead's figures: `GET /api/statistics` (emails by outcome per day, auto-send rate, time to
 * reply, review decisions, hand-off reasons) and `GET /api/knowledge-gaps` (questions the manuals
 * did not answer, grouped, and the pages cited most; `?format=csv` for a spreadsheet). Both take a
 * period of local days (`from`, `to`, `YYYY-MM-DD`, default the last 7 days), the reader's
 * `utc_offset` in minutes and an optional `agent_email`.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { knowledgeGaps, knowledgeGapsCsv } from '../../features/knowledge-gaps.js';
import type { SqlClient } from '../../store/sql.js';
import { statistics } from '../../store/statistics.js';
import { parseInput } from './context.js';
import { ApiError } from './errors.js';

/** What the statistics routes read. */
export interface StatisticsOptions {
  database: SqlClient;
  /** Below this best-passage score a question counts as a gap though it was answered (AUTO_SEND_MIN_SCORE). */
  lowScore: number;
}

const DAY_MS = 86_400_000;
/** Longest period asked at once: a year of days is what the chart and the table can show. */
const MAX_DAYS = 366;
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a day is YYYY-MM-DD');

const periodQuery = z.object({
  agent_email: z.string().trim().toLowerCase().min(1).optional(),
  from: day.optional(),
  to: day.optional(),
  utc_offset: z.coerce.number().int().min(-840).max(840).default(0),
  format: z.enum(['json', 'csv']).default('json'),
});

type Period = z.infer<typeof periodQuery>;

/** The period's days, checked: the last 7 days up to today (at the reader's offset) unless given. */
function periodOf(query: Period): { from: string; to: string; startMs: number; endMs: number } {
  const today = new Date(Date.now() + query.utc_offset * 60_000).toISOString().slice(0, 10);
  const to = query.to ?? today;
  const from = query.from ?? new Date(Date.parse(`${to}T00:00:00Z`) - 6 * DAY_MS).toISOString().slice(0, 10);
  const startMs = Date.parse(`${from}T00:00:00Z`) - query.utc_offset * 60_000;
  const endMs = Date.parse(`${to}T00:00:00Z`) - query.utc_offset * 60_000 + DAY_MS;
  if (Number.isNaN(startMs) || Number.isNaN(endMs)) throw new ApiError(400, 'invalid_request', 'from and to must be real days');
  if (endMs <= startMs) throw new ApiError(400, 'invalid_request', 'from must not be after to');
  if ((endMs - startMs) / DAY_MS > MAX_DAYS) throw new ApiError(400, 'invalid_request', `a period is at most ${MAX_DAYS} days`);
  return { from, to, startMs, endMs };
}

export function statisticsRoutes({ database, lowScore }: StatisticsOptions) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/statistics', async (request) => {
      const query = parseInput(periodQuery, request.query);
      const { from, to } = periodOf(query);
      return await statistics(database, { agentEmail: query.agent_email, from, to, utcOffsetMinutes: query.utc_offset });
    });

    app.get('/knowledge-gaps', async (request, reply) => {
      const query = parseInput(periodQuery, request.query);
      const { from, to, startMs, endMs } = periodOf(query);
      const gapQuery = { agentEmail: query.agent_email, fromIso: new Date(startMs).toISOString(), toIso: new Date(endMs).toISOString(), lowScore };
      if (query.format === 'csv') {
        const csv = knowledgeGapsCsv(await knowledgeGaps(database, gapQuery, { examplesPerGroup: Number.POSITIVE_INFINITY }));
        const name = `knowledge-gaps-${query.agent_email ?? 'all'}-${from}-${to}.csv`.replace(/[^\w.@-]/g, '_');
        return reply.header('content-type', 'text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}"`).send(csv);
      }
      return { from, to, agent_email: query.agent_email ?? null, low_score: lowScore, ...(await knowledgeGaps(database, gapQuery)) };
    });
  };
}
