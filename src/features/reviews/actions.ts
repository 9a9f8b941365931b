/**
 * What a reviewer does with a drafted reply. Approving publishes the reply to `emails.to_send`
 * again, marked with the approval, so it goes out through the sender role like any reply (rate
 * limit, quota, exactly once, in the thread); rejecting only records the decision. Both publish
 * an event (`review_approved` / `review_rejected`) so the audit stream says who did what, when.
 */
import { randomUUID } from 'node:crypto';
import { RagmailError, permanentError } from '../../lib/errors.js';
import type { Broker } from '../../messaging/broker.js';
import { publishEvent } from '../../messaging/events.js';
import type { ToSendMessage } from '../../pipeline/messages.js';
import { toSend } from '../../pipeline/stages.js';
import type { DecidedReview, Review, ReviewQueue } from '../../store/reviews.js';

/** The role named on the events of review actions: they are taken through the operator API. */
const ROLE = 'api';

/** Options of {@link approveReview}. */
export interface ApproveOptions {
  /** Who approves (the API token's name). */
  by: string;
  /** The reply to send, edited by the reviewer; default the generated reply. Must not be blank. */
  body?: string;
}

/** Options of {@link rejectReview}. */
export interface RejectOptions {
  /** Who rejects (the API token's name). */
  by: string;
  /** Why the reply must not go out. */
  note?: string;
}

/** The stored draft's message, approved: a new envelope chained to it, carrying the approved body. */
export function approvedMessage(review: DecidedReview): ToSendMessage {
  const drafted = review.message;
  return {
    ...drafted,
    message_id: randomUUID(),
    timestamp: new Date().toISOString(),
    original_message_id: drafted.message_id,
    generated_response: { ...drafted.generated_response, body: review.reply_body },
    review: { approved_by: review.decided_by, approved_at: review.decided_at, edited: review.edited },
  };
}

/** Why a review with no single valid recipient cannot be approved: only a person can answer it. */
export const NO_RECIPIENT_MESSAGE = 'no single valid recipient; answer by hand';

/**
 * Approves a pending review and hands the reply to the sender role.
 * @throws RagmailError `review_body_empty` for a blank body, `review_no_recipient` for an email
 * without one valid recipient (e.g. a Reply-To of many addresses); the store's `ReviewNotFoundError` /
 * `ReviewConflictError` for an unknown or already decided review; the broker's error when the
 * reply could not be published (the review is then pending again).
 */
export async function approveReview(broker: Broker, reviews: ReviewQueue, emailId: string, options: ApproveOptions): Promise<Review> {
  if (options.body !== undefined && options.body.trim() === '') {
    throw permanentError('review_body_empty', 'the approved reply is empty; write a reply or reject the draft');
  }
  const current = await reviews.get(emailId);
  if (current?.status === 'pending' && current.recipient === null) {
    throw permanentError('review_no_recipient', `${NO_RECIPIENT_MESSAGE} (${current.recipient_problem})`);
  }
  const review = await reviews.decide(emailId, { action: 'approved', by: options.by, body: options.body });
  const message = approvedMessage(review);
  try {
    await broker.publish(toSend, message, { priority: message.email.priority });
  } catch (error) {
    // Nothing will be sent: the decision must not stand, or the reply would be stuck as approved.
    await reviews.revertToPending(review);
    throw error;
  }
  try {
    await publishEvent(broker, ROLE, {
      stage: 'review_approved',
      // When it was decided, not published: the sender may already have sent it by now.
      timestamp: review.decided_at,
      email_id: review.email_id,
      agent_email: review.agent_email,
      detail: {
        by: review.decided_by,
        edited: review.edited,
        // A recorder with a database of its own learns the edited text from the event alone.
        ...(review.edited ? { body: review.reply_body } : {}),
      },
    });
  } catch (error) {
    // The reply is on its way and cannot be called back; undoing the decision would allow a second one.
    throw new RagmailError(`the reply to ${emailId} was approved and queued for sending, but the review_approved event was not published`, {
      code: 'review_event_unpublished',
      retryable: true,
      cause: error,
    });
  }
  return review;
}

/**
 * Rejects a pending review: the draft is never sent.
 * @throws the store's `ReviewNotFoundError` / `ReviewConflictError` for an unknown or already
 * decided review; the broker's error when the event could not be published (the review is then
 * pending again, so the rejection can be repeated and is not missing from the audit stream).
 */
export async function rejectReview(broker: Broker, reviews: ReviewQueue, emailId: string, options: RejectOptions): Promise<Review> {
  const review = await reviews.decide(emailId, { action: 'rejected', by: options.by, note: options.note });
  try {
    await publishEvent(broker, ROLE, {
      stage: 'review_rejected',
      email_id: review.email_id,
      agent_email: review.agent_email,
      detail: { by: review.decided_by, note: review.note },
    });
  } catch (error) {
    await reviews.revertToPending(review);
    throw error;
  }
  return review;
}
