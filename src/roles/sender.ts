/**
 * sender: applies the mailbox's send policy, rate limit and daily quota, and delivers the reply in
 * the original thread exactly once. The claim on `email_id` stops two senders; the deterministic
 * Message-ID finds a reply that a crashed sender already delivered. A mailbox that sends in two
 * steps (IMAP/SMTP) reports the reply transmitted between them, and the sender records it with
 * the claim: a sender that died before the second step leaves the next one only that step to do.
 * It reports the start of the first step too: a sender that died inside the SMTP transaction may
 * or may not have sent the reply, so the next one sends nothing; unless the reply shows in the
 * mailbox, it hands it to review as written, with {@link DELIVERY_UNCERTAIN_REASON}.
 *
 * A reply a reviewer approved (`message.review`, published by src/features/reviews/actions.ts) comes back
 * here after its draft: it is sent whatever the policy (shadow mode excepted), under a claim of its
 * own (`review:<email_id>`, the email's claim being done with the draft), and its draft is removed.
 * The `review` field is only a claim: the approval is verified against the review store first
 * (src/review/verify.ts), so a forged message is dead-lettered as `review_unverified`.
 *
 * An email without one valid recipient (`reply_recipient` null) is never sent: it is left as a
 * draft with the reason, whatever the policy, for a person to answer by hand.
 *
 * Whether a reply may go out unread is the responder's decision (`generated_response.decision`,
 * src/rag/decide.ts); the sender only applies the mailbox's mode on top of it.
 */
import { createHash, randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { decisionPolicyOf, sendModeOf, type DecisionSettings, type SendModeSettings } from '../features/send-policy.js';
import { transientError } from '../lib/errors.js';
import type { Handler, HandlerContext } from '../messaging/consumer.js';
import type { StageDetails } from '../pipeline/events.js';
import { mailboxKeyOf, type ToSendMessage } from '../pipeline/messages.js';
import { decideReply } from '../rag/decide.js';
import type { Mailbox, OutgoingReply, SendProgress } from '../providers/mailbox/spec.js';
import { replyMessageId } from '../providers/mailbox/mime.js';
import type { SendClaims } from '../providers/claims/spec.js';
import type { SendLedger } from '../store/send-ledger.js';
import { TokenBucket } from '../store/rate-limiter.js';
import type { ReviewQueue } from '../store/reviews.js';
import { approvalAlreadySent, verifyApproval } from '../features/reviews/verify.js';

export interface SenderDependencies {
  config: DecisionSettings &
    SendModeSettings & {
      /** Token bucket per mailbox. */
      SEND_RATE_PER_MINUTE: number;
      SEND_BURST: number;
      /** Replies per mailbox per UTC day. */
      DAILY_SEND_QUOTA: number;
      /** How long a claim on an email holds. */
      SEND_LEASE_MS: number;
    };
  mailbox: Mailbox;
  /** Who may send which reply: the local ledger, or Redis across hosts with the ledger as fallback. */
  claims: SendClaims;
  /** Keeps the daily send quota. */
  ledger: Pick<SendLedger, 'tryConsumeQuota'>;
  /** The review store the API decides in: an approved reply is sent only when it holds the approval. */
  reviews: Pick<ReviewQueue, 'get'>;
}

/** Why a reply whose sender stopped inside its SMTP transaction is handed to review instead of sent. */
export const DELIVERY_UNCERTAIN_REASON =
  'delivery uncertain: the sender stopped during the SMTP transaction; check whether the customer received it before sending';

/** What became of a reply. */
type Decision = { action: 'send' } | { action: 'draft'; stage: 'drafted' | 'handed_off'; reason: string } | { action: 'shadow' };

/** The stage a delivered reply ends in and its event's detail, but for the reply's Message-ID, which every outcome adds. */
type Delivered<S extends 'sent' | 'drafted' | 'handed_off' | 'shadowed'> = { stage: S; detail: Omit<StageDetails[S], 'message_id'> };
type Delivery = Delivered<'sent'> | Delivered<'drafted'> | Delivered<'handed_off'> | Delivered<'shadowed'>;

/**
 * This process, as the owner of a claim (`host:pid`). Each handling adds a unique suffix: the
 * ledger renews a claim for the same owner, so two copies of one message handled at once in this
 * process would otherwise both pass the claim and both send.
 */
const OWNER = `${hostname()}:${process.pid}`;

function ownerIsDead(owner: string): boolean {
  const [host, pid] = owner.split(':');
  if (host !== hostname() || !pid) return false;
  try {
    process.kill(Number(pid), 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * The id of a reply's stage event, the same on every try: a sender that finds its reply already in
 * the mailbox says the outcome again (its predecessor may have died before saying it), and the
 * activity log, which keeps one event per id, records it once either way.
 */
/**
 * The id of a reply's outcome event, the same however often it is said. An approval is a send of
 * its own (its claim is too): its outcome is told apart by the approval, or a second approval's
 * uncertain delivery would be taken for the first one's, and its review never reopened.
 */
function replyEventId(message: ToSendMessage, stage: string, messageId: string): string {
  const approval = message.review ? `\n${message.review.approved_at}` : '';
  return `reply-${createHash('sha256').update(`${message.email.email_id}\n${stage}\n${messageId}${approval}`).digest('hex').slice(0, 32)}`;
}

export function createSenderHandler({ config, mailbox, claims, ledger, reviews }: SenderDependencies): Handler<ToSendMessage> {
  const buckets = new Map<string, TokenBucket>();
  const bucketOf = (agentEmail: string) => {
    let bucket = buckets.get(agentEmail);
    if (!bucket) {
      bucket = new TokenBucket({ capacity: config.SEND_BURST, refillPerSecond: config.SEND_RATE_PER_MINUTE / 60 });
      buckets.set(agentEmail, bucket);
    }
    return bucket;
  };

  function decide(message: ToSendMessage): Decision {
    const mode = sendModeOf(config, message.email.agent_email);
    if (mode === 'shadow') return { action: 'shadow' };
    // A person read this reply and approved it: the checks below only decided whether one had to.
    if (message.review) return { action: 'send' };
    const response = message.generated_response;
    if (message.email.reply_recipient === null) {
      const stage = response.handoff ? 'handed_off' : 'drafted';
      return { action: 'draft', stage, reason: `no single valid recipient: ${message.email.recipient_problem}; answer by hand` };
    }
    // The responder decided once, from every signal; a message from before it did is judged on
    // what it carries (the classification and the best retrieval score), as it always was.
    const decision =
      response.decision ??
      decideReply(
        {
          relevantPassages: response.handoff ? 0 : message.context_used.length || 1,
          topScore: response.top_score,
          classification: message.classification,
          provider: response.provider,
        },
        decisionPolicyOf(config),
      );
    if (decision.action === 'handoff' || response.handoff) return { action: 'draft', stage: 'handed_off', reason: decision.reasons.join('; ') };
    if (mode !== 'auto') return { action: 'draft', stage: 'drafted', reason: `${mode} mode` };
    if (decision.action === 'draft') return { action: 'draft', stage: 'drafted', reason: decision.reasons.join('; ') };
    return { action: 'send' };
  }

  async function claim(emailId: string, owner: string): Promise<'claimed' | 'transmitting' | 'transmitted' | 'done'> {
    let result = await claims.claim(emailId, owner, config.SEND_LEASE_MS);
    if (result === 'held') {
      const holder = await claims.holder(emailId);
      if (holder && ownerIsDead(holder)) {
        await claims.release(emailId, holder);
        result = await claims.claim(emailId, owner, config.SEND_LEASE_MS);
      }
    }
    if (result === 'held') throw transientError('send_claim_held', `another sender is sending the reply to ${emailId}`);
    return result;
  }

  async function deliver(message: ToSendMessage, reply: OutgoingReply, decision: Decision, context: HandlerContext, progress: SendProgress): Promise<Delivery> {
    const agentEmail = message.email.agent_email;
    // The reply's text rides along so the activity log can show it whole (the conversation view).
    const text = { subject: reply.subject, body: reply.body };
    if (decision.action === 'shadow') return { stage: 'shadowed', detail: { mode: 'shadow', ...text } };
    if (decision.action === 'send') {
      const quota = await ledger.tryConsumeQuota(agentEmail, config.DAILY_SEND_QUOTA);
      if (!quota.allowed) {
        // An approved reply is already a draft a person decided on: drafting it again would lose
        // the decision. It waits (retries), and ends dead-lettered with this reason if the day is long.
        if (message.review) {
          throw transientError(
            'daily_quota_exhausted',
            `the daily quota of ${config.DAILY_SEND_QUOTA} replies of ${agentEmail} is used; the approved reply waits`,
          );
        }
        return deliver(
          message,
          reply,
          { action: 'draft', stage: 'drafted', reason: `daily quota of ${config.DAILY_SEND_QUOTA} replies used` },
          context,
          progress,
        );
      }
      await bucketOf(agentEmail).take(context.signal);
      const { id } = await mailbox.send(reply, progress);
      return { stage: 'sent', detail: { ...sentMode(message), provider_id: id, quota_remaining: quota.remaining, ...text } };
    }
    const { id } = await mailbox.saveDraft(reply);
    // The whole message travels with the event: the recorder opens a review from it.
    return { stage: decision.stage, detail: { mode: sendModeOf(config, agentEmail), reason: decision.reason, provider_id: id, message } };
  }

  /**
   * Finishes the send of a reply that already left: its sender died after the mailbox transmitted
   * it and before the send was complete. Whatever the policy says now, nothing is sent (nor counted
   * against the quota again); the mailbox only files the reply's copy.
   */
  async function finishTransmitted(message: ToSendMessage, reply: OutgoingReply): Promise<Delivered<'sent'>> {
    const { id } = mailbox.fileSent ? await mailbox.fileSent(reply) : { id: reply.message_id };
    return { stage: 'sent', detail: { ...sentMode(message), provider_id: id, transmitted_earlier: true, subject: reply.subject, body: reply.body } };
  }

  /**
   * Settles a reply whose sender stopped inside its SMTP transaction: it may have left, so it is
   * never sent again. The Sent folder is the one place it can show (the reply goes to the customer
   * alone, and the server offers no record of what it accepted), and it is looked for again here,
   * since its sender may have filed it since the first look; otherwise it goes to review as written.
   */
  async function settleUncertain(message: ToSendMessage, reply: OutgoingReply, context: HandlerContext, progress: SendProgress): Promise<Delivery> {
    if ((await mailbox.findReply(message.email.agent_email, reply.message_id)) === 'sent') {
      return {
        stage: 'sent',
        detail: { ...sentMode(message), provider_id: reply.message_id, found_in_mailbox: true, subject: reply.subject, body: reply.body },
      };
    }
    context.logger.warn('reply handed to review: its sender stopped during the SMTP transaction', { message_id: reply.message_id });
    return deliver(message, reply, { action: 'draft', stage: 'handed_off', reason: DELIVERY_UNCERTAIN_REASON }, context, progress);
  }

  /**
   * Removes the draft of a reply that went out. The reply is sent whatever happens here, so a
   * failure is logged, not thrown: retrying would only find the reply sent. @returns null on failure.
   */
  async function removeDraft(agentEmail: string, messageId: string, context: HandlerContext): Promise<boolean | null> {
    try {
      return await mailbox.deleteDraft(agentEmail, messageId);
    } catch (error) {
      context.logger.warn('the approved reply was sent but its draft could not be removed', { message_id: messageId, error: (error as Error).message });
      return null;
    }
  }

  function sentMode(message: ToSendMessage): { mode: string; approved_by?: string; edited?: boolean } {
    return message.review ? { mode: 'review', approved_by: message.review.approved_by, edited: message.review.edited } : { mode: 'auto' };
  }

  return async (message, context) => {
    const { email } = message;
    const reply: OutgoingReply = {
      email,
      message_id: replyMessageId(mailboxKeyOf(email), email.agent_email),
      subject: message.generated_response.subject,
      body: message.generated_response.body,
    };
    // A shadow replay sends nothing and claims nothing: the email's real reply, sent or not, stays as it is.
    if (context.replay?.shadow) {
      await context.emit({
        stage: 'shadowed',
        email_id: email.email_id,
        agent_email: email.agent_email,
        provider: mailbox.provider,
        detail: { mode: 'shadow', reason: 'shadow replay', message_id: reply.message_id },
      });
      context.logger.info('reply shadowed (shadow replay)');
      return { status: 'shadowed' };
    }
    const approved = message.review !== undefined;
    // The recorder marked the review sent: this approval was carried out (a redelivery), not a new one.
    if (approved && (await approvalAlreadySent(message, reviews))) {
      context.logger.info('approved reply already sent (its review says so); not sending again');
      return { status: 'duplicate' };
    }
    // Before anything else, even the duplicate check: a forged approval must not be answered at all.
    // An approval whose send crashed before its `sent` event is still `approved` here: findReply below finds it sent.
    if (approved) await verifyApproval(message, reviews);
    // The email's own claim was completed by its draft; an approval is a send of its own, and so is
    // a second approval of a review reopened after the first one's delivery went uncertain.
    const claimKey = approved ? `review:${email.email_id}:${message.review!.approved_at}` : email.email_id;
    const already = await mailbox.findReply(email.agent_email, reply.message_id);
    // For an approval the draft is expected: it is what was reviewed, not a reply already out.
    if (already === 'sent' || (already === 'draft' && !approved)) {
      // The sender that delivered it may have died, or lost the broker, before its event went out.
      const decision = decide(message);
      // A draft though the policy sends: a quota's draft, or a reply handed to review as delivery
      // uncertain by a sender that died before saying so, which only the claim can tell.
      const uncertain = already === 'draft' && decision.action === 'send' && (await claim(claimKey, `${OWNER}:${randomUUID()}`)) === 'transmitting';
      const draft: { stage: 'drafted' | 'handed_off'; reason?: string } = uncertain
        ? { stage: 'handed_off', reason: DELIVERY_UNCERTAIN_REASON }
        : decision.action === 'draft'
          ? { stage: decision.stage, reason: decision.reason }
          : { stage: 'drafted' };
      const stage = already === 'sent' ? 'sent' : draft.stage;
      await context.emit({
        event_id: replyEventId(message, stage, reply.message_id),
        stage,
        email_id: email.email_id,
        agent_email: email.agent_email,
        provider: mailbox.provider,
        detail: {
          mode: sendModeOf(config, email.agent_email),
          message_id: reply.message_id,
          found_in_mailbox: true,
          ...(already === 'draft' ? { message, reason: draft.reason } : { subject: reply.subject, body: reply.body }),
        },
      });
      await claims.complete(claimKey, { mode: already, message_id: reply.message_id });
      // A sender that crashed after sending the approved reply may have left its draft behind.
      if (approved) await removeDraft(email.agent_email, reply.message_id, context);
      context.logger.info('reply already delivered; not sending again', { found: already });
      return { status: 'duplicate' };
    }
    const owner = `${OWNER}:${randomUUID()}`;
    const claimed = await claim(claimKey, owner);
    if (claimed === 'done') {
      context.logger.info('reply already handled; not sending again');
      return { status: 'duplicate' };
    }
    // Recorded with the claim: the start of the SMTP transaction before it (a failure to record it
    // fails the send with nothing sent), and its acceptance before the mailbox files the reply's
    // copy, the one trace it leaves until then.
    const progress: SendProgress = {
      transmitting: () => claims.transmitting(claimKey, reply.message_id),
      transmissionFailed: async () => {
        try {
          await claims.transmissionFailed(claimKey);
        } catch (error) {
          // Left standing, it only sends the retry's reply to review: nothing goes out twice.
          context.logger.warn('the reply did not leave but its transmission could not be withdrawn', {
            message_id: reply.message_id,
            error: (error as Error).message,
          });
        }
      },
      transmitted: async () => {
        try {
          await claims.transmitted(claimKey, reply.message_id);
        } catch (error) {
          // The reply is out whatever happens here: the send goes on, and its Sent copy is what a retry finds.
          context.logger.warn('the reply left but could not be recorded as transmitted', { message_id: reply.message_id, error: (error as Error).message });
        }
      },
    };
    const started = Date.now();
    let outcome: Delivery;
    try {
      if (claimed === 'transmitted') context.logger.info('reply transmitted by an earlier sender; filing its copy, not sending again');
      if (claimed === 'transmitted') outcome = await finishTransmitted(message, reply);
      else if (claimed === 'transmitting') outcome = await settleUncertain(message, reply, context, progress);
      else outcome = await deliver(message, reply, decide(message), context, progress);
    } catch (error) {
      await claims.release(claimKey, owner);
      throw error;
    }
    await claims.complete(claimKey, { mode: outcome.stage, message_id: reply.message_id });
    if (approved && outcome.stage === 'sent') {
      outcome.detail.draft_removed = await removeDraft(email.agent_email, reply.message_id, context);
    }
    await context.emit({
      event_id: replyEventId(message, outcome.stage, reply.message_id),
      stage: outcome.stage,
      email_id: email.email_id,
      agent_email: email.agent_email,
      duration_ms: Date.now() - started,
      provider: mailbox.provider,
      detail: { ...outcome.detail, message_id: reply.message_id },
    });
    context.logger.info(`reply ${outcome.stage}`, { to: email.reply_recipient, recipient_problem: email.recipient_problem ?? undefined });
    return { status: outcome.stage };
  };
}
