/**
 * poller: takes new mail from the mailbox and publishes it to `emails.to_classify` with a priority.
 * An email is marked taken only after its publish is confirmed, and is never published twice.
 * Automated mail (docs/ARCHITECTURE.md#safety) is skipped and recorded with the reason.
 */
import { randomUUID } from 'node:crypto';
import type { Broker } from '../messaging/broker.js';
import { publishEvent } from '../messaging/events.js';
import type { ToClassifyMessage } from '../pipeline/messages.js';
import { toClassify } from '../pipeline/stages.js';
import type { Logger } from '../lib/log.js';
import type { Mailbox } from '../providers/mailbox/spec.js';
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

/** One look at the mailbox. */
export async function pollOnce({ mailbox, broker, published, logger, batchSize }: PollerDependencies): Promise<PollResult> {
  const result: PollResult = { published: 0, skipped: 0, duplicates: 0 };
  for (const { email, automated } of await mailbox.fetchNew(batchSize)) {
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
      await broker.publish(toClassify, message, { priority: email.priority });
      await published.add(email.email_id, email.agent_email);
      // The published message itself rides along: replay from the audit stream re-publishes it (src/messaging/audit-replay.ts).
      await publishEvent(broker, 'poller', { stage: 'received', email_id: email.email_id, agent_email: email.agent_email, detail: { ...summary, message } });
      result.published += 1;
      log.info('email published', { priority: email.priority, message_id: message.message_id });
    }
    await mailbox.markTaken(email);
  }
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
