/**
 * Who am I, which mailboxes exist, and how things stand: the dashboard's header and first screen.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DOCUMENT_STATUSES, type DocumentStatus } from '../../store/documents.js';
import { parseInput, type ApiContext } from './context.js';

const mailboxQuery = z.object({ agent_email: z.string().trim().toLowerCase().min(1).optional() });

export function overviewRoutes(context: ApiContext) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/me', async (request) => ({ name: request.operator }));

    app.get('/mailboxes', async () => {
      // A mailbox provider that cannot be reached (Gmail down) must not hide the mailboxes known locally.
      const fromMailbox = await context.services.mailbox.addresses().catch((error: Error) => {
        context.logger.warn('cannot list the mailbox addresses', { error: error.message });
        return [];
      });
      const fromEmails = await context.activity.mailboxes();
      const fromDocuments = (await context.documents.list()).map((document) => document.agent_email);
      const mailboxes = [...new Set([...fromMailbox, ...fromEmails, ...fromDocuments].map((address) => address.toLowerCase()))].sort();
      return { mailboxes };
    });

    app.get('/overview', async (request) => {
      const { agent_email: agentEmail } = parseInput(mailboxQuery, request.query);
      const documents = Object.fromEntries(DOCUMENT_STATUSES.map((status) => [status, 0])) as Record<DocumentStatus, number>;
      for (const document of await context.documents.list(agentEmail)) documents[document.status] += 1;
      return {
        states: await context.activity.countByState(agentEmail),
        pending_reviews: await context.reviews.count({ agentEmail, status: 'pending' }),
        documents,
      };
    });
  };
}
