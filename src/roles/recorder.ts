/**
 * recorder: reads the `events.audit` stream into the activity log, document registry and review
 * queue, so workers on other hosts need no shared file. It remembers the stream offset it reached;
 * events are idempotent by `event_id`, so reading one twice changes nothing. Of several recorders
 * on one PostgreSQL database, one projects and the others stand by ({@link startRecorder}).
 *
 * An event is applied only when it was published under the routing key of the stage it claims
 * (src/messaging/event-delivery.ts): the topic permissions bound who may publish which key, not
 * what a body says. The checks of the body (role, embedded message) are a second line.
 */
import type { Channel, ConsumeMessage } from 'amqplib';
import type { Broker } from '../messaging/broker.js';
import { readEventDelivery } from '../messaging/event-delivery.js';
import { isStage, type PipelineEvent } from '../pipeline/events.js';
import { toSendSchema, type ToSendMessage } from '../pipeline/messages.js';
import { QUEUES } from '../messaging/topology.js';
import type { Logger } from '../lib/log.js';
import { ActivityLog } from '../store/activity-log.js';
import { DocumentRegistry } from '../store/documents.js';
import { ReviewConflictError, ReviewNotFoundError, ReviewQueue } from '../store/reviews.js';
import { isTransientDatabaseError, type SqlDatabase } from '../store/sql.js';
import { StreamOffsets } from '../store/stream-offsets.js';

/** Where {@link applyEvent} writes, and whom it tells about events it cannot use. */
export interface RecorderStores {
  activity: ActivityLog;
  documents: DocumentRegistry;
  reviews: ReviewQueue;
  logger: { warn(message: string, fields?: Record<string, unknown>): void };
}

export interface RecorderDependencies {
  broker: Broker;
  /** Where the activity log, document registry and review queue live, and the stream offset. */
  database: SqlDatabase;
  logger: Logger;
  /** Where to start when no offset is stored: `first` replays the retained history. */
  start: 'first' | 'next';
  /** How often a standby tries to take over from the recorder projecting the stream. */
  takeoverIntervalMs: number;
}

/**
 * The one role that may report each stage that opens, decides or sends a review, or names a file
 * the API deletes. The routing key already bounds who published an event (topic permissions); this
 * is the second line, for a broker whose users share permissions (one user for every role).
 */
const STAGE_ROLES: Readonly<Record<string, string>> = {
  drafted: 'sender',
  handed_off: 'sender',
  sent: 'sender',
  review_approved: 'api',
  review_rejected: 'api',
  queued: 'upload',
};

/** Applies one event to the activity log, the document registry and the review queue. */
export async function applyEvent(event: PipelineEvent, { activity, documents, reviews, logger }: RecorderStores): Promise<void> {
  const expectedRole = STAGE_ROLES[event.stage];
  if (expectedRole !== undefined && event.role !== expectedRole) {
    logger.warn(`${event.stage} event from role ${JSON.stringify(event.role)}, not the ${expectedRole}; ignored`, {
      email_id: event.email_id,
      document_id: event.document_id,
      event_id: event.event_id,
    });
    return;
  }
  if (event.email_id) {
    // A redelivered event must not re-open or re-decide a review: only a first recording applies.
    if (await activity.record(event)) await applyToReviews(event, event.email_id, { activity, reviews, logger });
    return;
  }
  if (!event.document_id) return;
  if (isStage(event, 'queued') && event.agent_email) {
    await documents.register({
      document_id: event.document_id,
      agent_email: event.agent_email,
      filename: event.detail.filename ?? event.document_id,
      path: event.detail.path ?? '',
    });
  } else if (isStage(event, 'ingest_progress')) {
    const document = await documents.get(event.document_id);
    if (!document || document.status === 'queued') await documents.markProcessing(event.document_id, event.detail.pages_total ?? 0);
    await documents.progress(event.document_id, event.detail.pages_done ?? 0);
  } else if (isStage(event, 'ingested')) {
    await documents.markIngested(event.document_id, { chunks: event.detail.chunks ?? 0, pages: event.detail.pages ?? 0 });
  } else if (isStage(event, 'dead_lettered')) {
    await documents.markFailed(event.document_id, event.detail.error_message ?? 'failed');
  } else if (event.stage === 'deleted') {
    await documents.remove(event.document_id);
  }
}

/**
 * Why a `drafted` / `handed_off` event must not open a review, or null when it may. Only the sender
 * leaves drafts, and the message it carries must be about the email the event is about: a forged
 * event could otherwise show a reviewer one customer's email and send the reply to another.
 */
function draftEventProblem(event: PipelineEvent, message: ToSendMessage): string | null {
  if (message.email.email_id !== event.email_id) return 'its message is about another email';
  if (message.email.agent_email !== event.agent_email) return 'its message is about another mailbox';
  return null;
}

/** A drafted reply opens a review; the decisions and the approved reply's send move it along. */
async function applyToReviews(
  event: PipelineEvent,
  emailId: string,
  { activity, reviews, logger }: Pick<RecorderStores, 'activity' | 'reviews' | 'logger'>,
): Promise<void> {
  if (isStage(event, 'drafted', 'handed_off')) {
    // Checked with the message's own schema: the event's body is only a claim (src/pipeline/event-reading.ts).
    const message = toSendSchema.safeParse(event.detail.message);
    if (!message.success) {
      logger.warn('drafted reply without a valid message; no review opened', { email_id: emailId, error: message.error.issues[0]?.message });
      return;
    }
    const problem = draftEventProblem(event, message.data);
    if (problem) logger.warn(`drafted event ${problem}; no review opened`, { email_id: emailId, event_id: event.event_id, role: event.role });
    // An approved reply left as a draft (its delivery uncertain) goes back to the reviewers, or its review would say approved forever.
    else if (message.data.review) await reviews.reopen(emailId, message.data.review, event.detail.reason ?? null, event.timestamp);
    else await reviews.open(message.data, event.detail.reason ?? null, event.timestamp);
  } else if (isStage(event, 'review_approved', 'review_rejected')) {
    const { by, note, body } = event.detail;
    try {
      // Where the operator API shares this database the decision is in already: a conflict, ignored.
      await reviews.decide(emailId, {
        action: event.stage === 'review_approved' ? 'approved' : 'rejected',
        by: by || 'unknown',
        at: event.timestamp,
        body,
        note: note ?? undefined,
      });
    } catch (error) {
      if (!(error instanceof ReviewConflictError || error instanceof ReviewNotFoundError)) throw error;
    }
    // The API publishes the approved reply before its decision's event, so the sender's `sent` may
    // be in the stream first; it only counts once the approval is recorded.
    const sent = event.stage === 'review_approved' ? (await activity.timeline(emailId)).find((earlier) => earlier.stage === 'sent') : undefined;
    if (sent) await reviews.markSent(emailId, sent.timestamp);
  } else if (event.stage === 'sent') {
    // Only an approved review becomes sent: a `sent` of a pending draft says nothing a reviewer decided.
    await reviews.markSent(emailId, event.timestamp);
  }
}

/** Key of the PostgreSQL advisory lock whose holder is the one recorder projecting the audit stream. */
export const RECORDER_LOCK = 7_301_220;

/** A running recorder. */
export interface Recorder {
  /** True while this process projects the stream; false while another does and this one stands by. */
  readonly projecting: boolean;
  /** Stops projecting (or standing by) and lets go of the lock. */
  stop(): Promise<void>;
}

/**
 * Projects the stream while this process holds {@link RECORDER_LOCK}, and stands by otherwise,
 * trying again every `takeoverIntervalMs`: where recorders on several hosts share one PostgreSQL
 * database, exactly one reads the stream at a time, and another takes over when it dies.
 */
export function startRecorder(dependencies: RecorderDependencies): Recorder {
  const { database, logger, takeoverIntervalMs } = dependencies;
  let projecting = false;
  let stopping = false;
  let stopNow: () => void = () => undefined;
  const stopped = new Promise<'stop'>((resolve) => {
    stopNow = () => resolve('stop');
  });
  const pause = () => new Promise<void>((resolve) => setTimeout(resolve, takeoverIntervalMs).unref());

  const loop = (async () => {
    let standingBy = false;
    while (!stopping) {
      try {
        const lock = await database.tryLock(RECORDER_LOCK);
        if (lock) {
          logger.info(standingBy ? 'took over: projecting the audit stream' : 'projecting the audit stream');
          standingBy = false;
          projecting = true;
          const projection = project(dependencies, () => projecting);
          const ended = await Promise.race([lock.lost.then(() => 'lost' as const), stopped]);
          // Before anything else, so not one more delivery is applied once another recorder may hold the lock.
          projecting = false;
          if (ended === 'lost') {
            standingBy = true;
            logger.warn('the connection holding the recorder lock dropped: stopped projecting, standing by');
          }
          await projection.stop();
          await lock.release();
        } else if (!standingBy) {
          standingBy = true;
          logger.info('standing by: another recorder projects the audit stream');
        }
      } catch (error) {
        logger.warn('recorder lock unavailable; trying again', { error: (error as Error).message });
      }
      await Promise.race([pause(), stopped]);
    }
  })();

  return {
    get projecting() {
      return projecting;
    },
    stop: async () => {
      stopping = true;
      stopNow();
      await loop;
    },
  };
}

/**
 * Runs `work` until the database answers: an error that says it is unreachable or busy (a restart,
 * a failover) is waited out with a growing pause, logged now and then; any other error is thrown.
 * Gives up (undefined) when `goOn` turns false meanwhile.
 */
async function waitOutDatabase<T>(work: () => Promise<T>, logger: Logger, goOn: () => boolean = () => true): Promise<T | undefined> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      if (!isTransientDatabaseError(error)) throw error;
      if (attempt === 1 || attempt % 10 === 0) logger.warn('database unavailable; the recorder waits', { attempt, error: (error as Error).message });
      await new Promise((resolve) => setTimeout(resolve, Math.min(200 * 2 ** Math.min(attempt, 6), 10_000)));
      if (!goOn()) return undefined;
    }
  }
}

/**
 * Consumes the stream from the stored offset while `holding()` says this process holds the lock.
 * `stop` ends the consumer once the deliveries already received are settled.
 */
function project({ broker, database, logger, start }: RecorderDependencies, holding: () => boolean): { stop(): Promise<void> } {
  // An event and the offset after it are recorded together, so a restart neither skips nor repeats work.
  // A hop carries up to two events (`retrieved` and `replied`): each is its own transaction, the
  // last with the offset; one the stores refuse does not take the other with it, and one recorded
  // twice after a restart between them changes nothing (events are idempotent by `event_id`).
  const apply = (event: PipelineEvent, offset: number | undefined) =>
    database.transaction(async (tx) => {
      await applyEvent(event, { activity: new ActivityLog(tx), documents: new DocumentRegistry(tx), reviews: new ReviewQueue(tx), logger });
      if (offset !== undefined) await new StreamOffsets(tx).advance(QUEUES.audit, offset + 1);
    });
  // Deliveries are recorded one at a time, in stream order: the stored offset only moves forward.
  let recorded: Promise<void> = Promise.resolve();
  const record = async (message: ConsumeMessage, channel: Channel) => {
    // Left unacked: the recorder holding the lock now reads it from the stored offset.
    if (!holding()) return;
    const offset = message.properties.headers?.['x-stream-offset'] as number | undefined;
    const events: PipelineEvent[] = [];
    for (const read of readEventDelivery(message)) {
      if ('problem' in read) logger.warn(`${read.problem}; skipped`, { offset, event_id: read.event_id });
      else events.push(read.event);
    }
    // Nothing to record (a hop without events, a refused event): the next recorded event moves the offset past it.
    for (const [index, event] of events.entries()) {
      // The database unreachable or busy (a restart, a failover) is waited out, this delivery and
      // every later one held in order; skipping would lose the event for good, since the next one
      // moves the offset past it. Only an event the stores refuse is skipped.
      try {
        const offsetAfter = index === events.length - 1 ? offset : undefined;
        // Left unacked when the lock goes meanwhile: the recorder holding it now reads it from the stored offset.
        if (!(await waitOutDatabase(() => apply(event, offsetAfter).then(() => true), logger, holding))) return;
      } catch (error) {
        logger.warn('event could not be recorded; skipped', { offset, event_id: event.event_id, error: (error as Error).message });
      }
    }
    try {
      channel.ack(message);
    } catch {
      // The channel closed; the stream is read again from the stored offset.
    }
  };

  const consumer = broker.consume(
    QUEUES.audit,
    500,
    (message, channel) => {
      recorded = recorded.then(() => record(message, channel));
    },
    async () => {
      // A reconnect reads on from where the deliveries still being recorded will have left the offset.
      await recorded;
      return { 'x-stream-offset': (await waitOutDatabase(() => new StreamOffsets(database).next(QUEUES.audit), logger)) ?? start };
    },
  );
  return {
    stop: async () => {
      await consumer.cancel();
      await recorded;
      await consumer.close();
    },
  };
}
