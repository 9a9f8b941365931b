/**
 * `GET /api/emails/:email_id/conversation`: one email as a support lead reads it — the customer's
 * text, the reply as sent or drafted in full, each citation with a signed link that opens the
 * manual at its page, the responder's decision with its reasons, and the timeline.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { isStage } from '../../pipeline/events.js';
import { plainText, type StoredPassage } from '../../store/email-contents.js';
import type { ActivityLog } from '../../store/activity-log.js';
import type { DocumentRecord, DocumentRegistry } from '../../store/documents.js';
import type { ReviewQueue } from '../../store/reviews.js';
import { parseInput } from './context.js';
import { ApiError } from './errors.js';
import type { FileLinkSigner } from './file-links.js';

/** What the conversation route reads. */
export interface ConversationOptions {
  activity: ActivityLog;
  documents: Pick<DocumentRegistry, 'list'>;
  reviews: Pick<ReviewQueue, 'get'>;
  signer: FileLinkSigner;
}

/** A citation of the reply, with a link to its page when the manual is stored here. */
export interface ConversationCitation {
  source: string;
  title: string | null;
  page: number | null;
  document_id: string | null;
  /** `/manual-files/<id>?expires=…&signature=…#page=N`; null when the manual is not (or no longer) stored. */
  url: string | null;
}

const emailParams = z.object({ email_id: z.string().min(1) });
const decisionSchema = z.object({ action: z.string(), reasons: z.array(z.string()).catch([]) });

export function conversationRoutes({ activity, documents, reviews, signer }: ConversationOptions) {
  /** The stored document (of the mailbox's, `stored`) a citation names: the passage's own id when known, else the mailbox's manual of that name. */
  function documentIdOf(stored: DocumentRecord[], citation: { source: string; page: number | null }, passages: StoredPassage[]): string | null {
    const passage =
      passages.find((item) => item.source === citation.source && item.page === citation.page) ?? passages.find((item) => item.source === citation.source);
    // A manual deleted since gets no link rather than one that answers 404.
    if (passage) return stored.some((document) => document.document_id === passage.document_id) ? passage.document_id : null;
    const named = stored.filter((document) => document.filename === citation.source);
    // Two uploads of one name: the newest is the one the vector store answers from.
    return named.sort((left, right) => right.created_at.localeCompare(left.created_at))[0]?.document_id ?? null;
  }

  return async (app: FastifyInstance): Promise<void> => {
    app.get('/emails/:email_id/conversation', async (request) => {
      const { email_id: emailId } = parseInput(emailParams, request.params);
      const email = await activity.getEmail(emailId);
      if (!email) throw new ApiError(404, 'email_not_found', `no email ${emailId} in the activity log`);
      const timeline = await activity.timeline(emailId);
      const review = (await reviews.get(emailId)) ?? null;
      const contents = await activity.contents(emailId);
      const replied = [...timeline].reverse().find((event) => isStage(event, 'replied'));
      const passages = contents?.passages.length ? contents.passages : (review?.message.context_used ?? []);

      // Emails recorded before the texts were kept: the review's message has them for a draft, else only the excerpt is known.
      const reviewBody = review ? { subject: review.message.generated_response.subject, body: review.reply_body, source: 'review', complete: true } : null;
      const excerpt = email.reply_excerpt ? { subject: null, body: email.reply_excerpt, source: 'excerpt', complete: false } : null;
      const reply =
        contents?.reply_body != null
          ? { subject: contents.reply_subject, body: contents.reply_body, source: contents.reply_source, complete: true }
          : (reviewBody ?? excerpt);
      const customerBody = contents?.customer_body ?? (review ? plainText(review.message.email.body) : null);

      const decision = decisionSchema.safeParse((replied?.detail as Record<string, unknown> | undefined)?.decision);
      const stored = email.agent_email ? await documents.list(email.agent_email) : [];
      const citations: ConversationCitation[] = email.citations.map((citation) => {
        const documentId = documentIdOf(stored, citation, passages);
        const page = citation.page === null ? '' : `#page=${citation.page}`;
        return {
          source: citation.source,
          title: citation.title ?? null,
          page: citation.page,
          document_id: documentId,
          url: documentId ? `${signer.link(documentId)}${page}` : null,
        };
      });
      return {
        email,
        customer: { from: email.from, subject: email.subject, received_at: email.received_at, body: customerBody },
        reply,
        decision: decision.success ? decision.data : null,
        citations,
        timeline,
        review,
      };
    });
  };
}
