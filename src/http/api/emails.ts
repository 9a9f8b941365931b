/**
 * The email timeline: summaries filtered by mailbox, state, category and text, and one email with
 * every recorded event and its review.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parseInput, type ApiContext } from './context.js';
import { ApiError } from './errors.js';

const optionalText = z.string().trim().min(1).optional();

const listQuery = z.object({
  agent_email: optionalText.transform((value) => value?.toLowerCase()),
  state: optionalText,
  category: optionalText,
  search: optionalText,
  limit: z.coerce.number().int().min(1).max(500).default(50),
  offset: z.coerce.number().int().min(0).default(0),
});

const emailParams = z.object({ email_id: z.string().min(1) });

export function emailRoutes(context: ApiContext) {
  const { activity, reviews } = context;

  return async (app: FastifyInstance): Promise<void> => {
    app.get('/emails', async (request) => {
      const query = parseInput(listQuery, request.query);
      const filter = { agentEmail: query.agent_email, state: query.state, category: query.category, search: query.search };
      return {
        total: await activity.countEmails(filter),
        emails: await activity.listEmails({ ...filter, limit: query.limit, offset: query.offset }),
      };
    });

    app.get('/emails/:email_id', async (request) => {
      const { email_id: emailId } = parseInput(emailParams, request.params);
      const email = await activity.getEmail(emailId);
      if (!email) throw new ApiError(404, 'email_not_found', `no email ${emailId} in the activity log`);
      return { email, timeline: await activity.timeline(emailId), review: (await reviews.get(emailId)) ?? null };
    });
  };
}
