/**
 * The review queue: drafted replies waiting for a person, approved (optionally edited) or
 * rejected under the name of the caller's API token. The decisions themselves are src/features/reviews/actions.ts.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { RagmailError } from '../../lib/errors.js';
import { approveReview, rejectReview } from '../../features/reviews/actions.js';
import { REVIEW_STATUSES } from '../../store/reviews.js';
import { parseInput, type ApiContext } from './context.js';
import { ApiError } from './errors.js';

const listQuery = z.object({
  agent_email: z.string().trim().toLowerCase().min(1).optional(),
  status: z.enum(REVIEW_STATUSES).default('pending'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});
const reviewParams = z.object({ email_id: z.string().min(1) });
const approveBody = z.object({ body: z.string().optional() });
const rejectBody = z.object({ note: z.string().trim().max(2_000).optional() });

export function reviewRoutes(context: ApiContext) {
  const { reviews, broker } = context;

  return async (app: FastifyInstance): Promise<void> => {
    app.get('/reviews', async (request) => {
      const query = parseInput(listQuery, request.query);
      const filter = { agentEmail: query.agent_email, status: query.status };
      return { total: await reviews.count(filter), reviews: await reviews.list({ ...filter, limit: query.limit, offset: query.offset }) };
    });

    app.post('/reviews/:email_id/approve', async (request, reply) => {
      const { email_id: emailId } = parseInput(reviewParams, request.params);
      const { body } = parseInput(approveBody, request.body);
      const review = await approveReview(broker, reviews, emailId, { by: request.operator, body }).catch((error: unknown) => {
        // Nothing can be sent for such an email: the request cannot succeed as it is (422).
        if (error instanceof RagmailError && error.code === 'review_no_recipient') throw new ApiError(422, error.code, error.message, error);
        throw error;
      });
      context.logger.info('review approved', { email_id: emailId, by: request.operator, edited: review.edited });
      return reply.status(202).send({ review });
    });

    app.post('/reviews/:email_id/reject', async (request) => {
      const { email_id: emailId } = parseInput(reviewParams, request.params);
      const { note } = parseInput(rejectBody, request.body);
      const review = await rejectReview(broker, reviews, emailId, { by: request.operator, note: note || undefined });
      context.logger.info('review rejected', { email_id: emailId, by: request.operator });
      return { review };
    });
  };
}
