/**
 * poller: takes new mail from the mailbox and publishes it to `emails.to_classify` with a priority,
 * its `received` event riding on that message to the audit stream. An email is marked taken only
 * after its publish is confirmed, and is never published twice.
 * Automated mail (docs/ARCHITECTURE.md#safety) is skipped and recorded with the reason.
 */
import { randomUUID } from 'node:crypto';
import type { Broker } from '../messaging/broker.js';
import { publishEvent, publishHop } from '../messaging/events.js';
import type { EventFields } from '../pipeline/events.js';
import type { ToClassifyMessage } from '../pipeline/messages.js';
import { toClassify } from '../pipeline/stages.js';
import type { Logger } from '../lib/log.js';
import type { IncomingEmail, Mailbox } from '../providers/mailbox/spec.js';
import type { PublishedEmails } from '../store/published-emails.js';

export interface PollerDependencies {
  mailbox: Mailbox;
  broker: Broker;
  published: PublishedEmails;
  logger: Logger;
  batchSize: number;
}

export interface PollResult {
  published: number;
  skipped: number;
  duplicates: number;
}

/**
 * Publishes of one poll in flight at once: enough for the broker to group their writes and confirms
 * (BENCHMARKS.md, section 8), far below PUBLISH_BUFFER_LIMIT (default 1,000), which a batch
 * (POLL_BATCH_SIZE, up to 1,000) must not fill alone, since other roles of the process publish too.
 */
export const PUBLISHES_IN_FLIGHT = 32;

/**
 * One look at the mailbox. The batch's publishes are in flight together (each email's `received`
 * rides on its own publish, src/messaging/events.ts `publishHop`, so an email is one confirmed
 * publish; at most {@link PUBLISHES_IN_FLIGHT}); emails are marked taken in the mailbox's order,
 * each only after its own publish was confirmed. When a publish fails, the others in flight with it
 * still count, no more are started, and the poll fails with its error: an email not marked taken is
 * fetched again next time (and, if it was published meanwhile, only marked taken).
 */
export async function pollOnce({ mailbox, broker, published, logger, batchSize }: PollerDependencies): Promise<PollResult> {
  const result: PollResult = { published: 0, skipped: 0, duplicates: 0 };
  const take = async ({ email, automated }: IncomingEmail): Promise<void> => {
    const log = logger.child({ email_id: email.email_id });
    const summary = { from: email.from, subject: email.subject, received_at: email.received_at, priority: email.priority };
    if (await published.has(email.email_id)) {
      result.duplicates += 1;
      log.info('email already published; marking it taken');
    } else if (automated) {
      await publishEvent(broker, 'poller', {
        stage: 'skipped',
        email_id: email.email_id,
        agent_email: email.agent_email,
        detail: { ...summary, reason: automated },
      });
      result.skipped += 1;
      log.info('automated email skipped', { reason: automated });
    } else {
      const message: ToClassifyMessage = { message_id: randomUUID(), timestamp: new Date().toISOString(), original_message_id: null, email };
      // The published message itself is the event's `detail.message`: replay from the audit stream re-publishes it (src/messaging/audit-replay.ts).
      const received: EventFields = { stage: 'received', email_id: email.email_id, agent_email: email.agent_email, detail: { ...summary, message } };
      await publishHop(broker, 'poller', toClassify, message, [received], { priority: email.priority });
      await published.add(email.email_id, email.agent_email);
      result.published += 1;
      log.info('email published', { priority: email.priority, message_id: message.message_id });
    }
  };
  const fetched = await mailbox.fetchNew(batchSize);
  let failure: { error: unknown } | undefined;
  for (let start = 0; start < fetched.length; start += PUBLISHES_IN_FLIGHT) {
    const window = fetched.slice(start, start + PUBLISHES_IN_FLIGHT);
    // Two copies of one email go one after the other, so the second finds the first published.
    const byEmail = new Map<string, Promise<unknown>>();
    const inTurn = (incoming: IncomingEmail) => {
      const turn = (byEmail.get(incoming.email.email_id) ?? Promise.resolve()).catch(() => undefined).then(() => take(incoming));
      byEmail.set(incoming.email.email_id, turn);
      return turn;
    };
    // Each outcome caught at once: a later email's failure must not go unhandled while an earlier one is marked.
    const taking = window.map((incoming) =>
      inTurn(incoming).then(
        () => ({ failed: false as const }),
        (error: unknown) => ({ failed: true as const, error }),
      ),
    );
    for (const [index, outcome] of taking.entries()) {
      const taken = await outcome;
      if (taken.failed) failure ??= taken;
      else await mailbox.markTaken(window[index]!.email);
    }
    if (failure) break;
  }
  if (failure) throw failure.error;
  return result;
}

/** Polls until `signal` aborts; a failed poll is logged and tried again next interval. */
export async function runPoller(dependencies: PollerDependencies, intervalMs: number, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      const result = await pollOnce(dependencies);
      // A full batch means more is waiting: look again at once.
      if (result.published + result.skipped + result.duplicates >= dependencies.batchSize) continue;
    } catch (error) {
      dependencies.logger.error('poll failed', { error: (error as Error).message });
    }
    // A mailbox that hears of new mail (IMAP IDLE) wakes the poller early; the interval is then the fallback.
    await (dependencies.mailbox.waitForNew ? dependencies.mailbox.waitForNew(intervalMs, signal) : sleep(intervalMs, signal));
  }
}

/** Waits `ms`, or less when `signal` aborts; leaves no listener behind either way. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}
