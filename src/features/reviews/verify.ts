/**
 * The sender's check of an approved reply against the review store. The `review` field of an
 * `emails.to_send` message only says "this claims to be approved"; anyone who can publish to the
 * queue can write it. What a person approved is in the review store (the database the API decides
 * in), so the reply goes out only when the store holds the approval and the reply is exactly the
 * approved one: the same mailbox, recipient, subject, body and thread.
 */
import { permanentError } from '../../lib/errors.js';
import type { ToSendMessage } from '../../pipeline/messages.js';
import type { Review, ReviewQueue, ReviewStatus } from '../../store/reviews.js';

/**
 * Statuses of a review whose reply may go out: an approval not yet carried out, nothing else. A
 * redelivered approval of a reply already `sent` is answered by {@link approvalAlreadySent}.
 */
const SENDABLE: ReadonlySet<ReviewStatus> = new Set(['approved']);

/** What of `message` differs from the reply the reviewer approved, or null when nothing does. */
function mismatchOf(message: ToSendMessage, review: Review): string | null {
  const approved = review.message;
  const checks: Array<[string, unknown, unknown]> = [
    ['mailbox', message.email.agent_email, review.agent_email],
    ['recipient', message.email.reply_recipient, approved.email.reply_recipient],
    ['subject', message.generated_response.subject, approved.generated_response.subject],
    ['body', message.generated_response.body, review.reply_body],
    ['thread', message.email.message_id_header, approved.email.message_id_header],
  ];
  const differing = checks.filter(([, sending, approvedValue]) => sending !== approvedValue).map(([what]) => what);
  return differing.length > 0 ? `its ${differing.join(', ')} differ${differing.length === 1 ? 's' : ''} from the approved reply` : null;
}

/**
 * Verifies that a person approved exactly this reply.
 *
 * @throws RagmailError `review_unverified` (permanent: dead-lettered with the reason) when the
 *   store holds no approval of this email, or the reply differs from the approved one.
 */
export async function verifyApproval(message: ToSendMessage, reviews: Pick<ReviewQueue, 'get'>): Promise<Review> {
  const emailId = message.email.email_id;
  const refuse = (why: string) => permanentError('review_unverified', `the approved reply to ${emailId} was not sent: ${why}`);
  const review = await reviews.get(emailId);
  if (review === undefined) throw refuse('the review store holds no review of this email');
  if (!SENDABLE.has(review.status)) throw refuse(`its review is ${review.status}, not approved`);
  if (review.recipient === null) throw refuse(`the email has no single valid recipient (${review.recipient_problem})`);
  const mismatch = mismatchOf(message, review);
  if (mismatch) throw refuse(mismatch);
  return review;
}

/**
 * True when the store says exactly this approved reply went out already (its review is `sent`): a
 * redelivered approval, which the sender answers as a duplicate, neither sending it again nor
 * dead-lettering it. A reply that differs from the sent one is not "already sent".
 */
export async function approvalAlreadySent(message: ToSendMessage, reviews: Pick<ReviewQueue, 'get'>): Promise<boolean> {
  const review = await reviews.get(message.email.email_id);
  return review?.status === 'sent' && review.recipient !== null && mismatchOf(message, review) === null;
}
