/**
 * Replay from the audit stream: the emails received in a time window go through a stage again,
 * e.g. re-classify last week's mail in shadow mode after a prompt or model change (the event
 * replay of the Kafka design, on `events.audit`).
 *
 * Where the email comes from: the poller's `received` event carries the `emails.to_classify`
 * message it published (`detail.message`; the event rides on that very message, whose body the
 * reader puts back as `detail.message`, src/messaging/event-delivery.ts), so the stream alone holds everything a replay needs,
 * for as long as it retains events (EVENTS_MAX_AGE); mailboxes are not read again (a Gmail
 * message may be gone, a Maildir file moved). `respond` replays add the email's latest
 * `classified` event. Replayed messages carry {@link REPLAY_HEADER}; the consumer runtime passes
 * it on to every message and event a stage produces, and the sender sends nothing for a shadow
 * replay.
 */
import { randomUUID } from 'node:crypto';
import type { Broker, PublishOptions } from './broker.js';
import { readEventDelivery } from './event-delivery.js';
import { publishEvent } from './events.js';
import { isStage, type EventFields, type PipelineEvent, type ReplayMarker } from '../pipeline/events.js';
import { toClassifySchema, toRespondSchema, type ToClassifyMessage, type ToRespondMessage } from '../pipeline/messages.js';
import { toClassify, toRespond } from '../pipeline/stages.js';
import { QUEUES } from './topology.js';

/** Header naming the replay a message belongs to (its id). */
export const REPLAY_HEADER = 'x-ragmail-replay';
/** `shadow` (nothing is sent) or `live`. */
export const REPLAY_MODE_HEADER = 'x-ragmail-replay-mode';

/** Stages a replay can start at. */
export const REPLAY_STAGES = { classify: toClassify, respond: toRespond } as const;
export type ReplayStage = keyof typeof REPLAY_STAGES;

/** The replay marker of a message's headers, if it is a replay. */
export function replayMarkerOf(headers: Record<string, unknown> | undefined): ReplayMarker | undefined {
  const id = headers?.[REPLAY_HEADER];
  if (id === undefined || id === null) return undefined;
  return { replay_id: String(id), shadow: String(headers?.[REPLAY_MODE_HEADER]) !== 'live' };
}

export function replayHeaders(marker: ReplayMarker): Record<string, string> {
  return { [REPLAY_HEADER]: marker.replay_id, [REPLAY_MODE_HEADER]: marker.shadow ? 'shadow' : 'live' };
}

/** A view of `broker` whose publishes carry the replay headers (what a stage publishes next is part of the replay). */
export function forwardingReplay(broker: Broker, marker: ReplayMarker): Broker {
  const scoped = Object.create(broker) as Broker;
  // The typed `publish` goes through `publishRaw` on `this`: both carry the headers.
  scoped.publishRaw = (exchange: string, routingKey: string, body: unknown, options: PublishOptions = {}) =>
    broker.publishRaw(exchange, routingKey, body, { ...options, headers: { ...options.headers, ...replayHeaders(marker) } });
  return scoped;
}

/** Event fields with `detail.replay`, so the audit trail tells a replay's outcomes from the originals. */
export function markedAsReplay(fields: EventFields, marker: ReplayMarker): EventFields {
  // Every stage's detail may carry `replay` (src/pipeline/events.ts); TypeScript cannot pair the
  // spread detail with its stage again.
  return { ...fields, detail: { ...fields.detail, replay: marker } } as EventFields;
}

/** Options of {@link replayFromAudit}. */
export interface ReplayOptions {
  stage: ReplayStage;
  /** Emails received at or after this time ... */
  since: Date;
  /** ... and before this one. */
  until: Date;
  /** Only this mailbox (agent_email); default all. */
  mailbox?: string;
  /** Nothing is sent: the sender records `shadowed` instead. */
  shadow: boolean;
  /** Only list what would be replayed. */
  dryRun?: boolean;
  /** Gives up when the stream sends nothing for this long (default 15 s). */
  idleTimeoutMs?: number;
}

export interface ReplayedEmail {
  email_id: string;
  agent_email: string;
  received_at: string;
}

export interface ReplayReport {
  replay_id: string;
  replayed: ReplayedEmail[];
  /** Emails in the window that could not be replayed, and why. */
  skipped: Array<{ email_id: string; reason: string }>;
  events_read: number;
  /** Events not used because they were not published under the routing key of their stage (forged), and why. */
  refused: RefusedEvent[];
}

/** An event of the stream that a replay does not trust. */
export interface RefusedEvent {
  event_id: string | null;
  reason: string;
}

/**
 * Events after the window still matter to a `respond` replay (the email's classification). A
 * classification comes at most the emails.to_classify TTL (1 h) plus retries after the email.
 */
const LOOK_AHEAD_MS: Record<ReplayStage, number> = { classify: 60_000, respond: 3 * 3_600_000 };

/**
 * The stream is attached this much before `since`: its chunks carry the broker's clock, events
 * the publisher's, and attaching is per chunk. Earlier events are filtered out by their timestamp.
 */
const CLOCK_MARGIN_MS = 5 * 60_000;

/**
 * Reads `events.audit` from `since` (a timestamp offset: the broker starts at the chunk holding
 * that time, so earlier events are filtered out here) until the stream is caught up — a marker
 * event published first comes back — or events are later than `until` plus `lookAheadMs`.
 */
export async function readAuditWindow(
  broker: Broker,
  window: { since: Date; until: Date; lookAheadMs: number; idleTimeoutMs: number },
  replayId: string,
  refused: RefusedEvent[] = [],
): Promise<PipelineEvent[]> {
  await publishEvent(broker, 'replay', {
    stage: 'replay_started',
    detail: { replay_id: replayId, since: window.since.toISOString(), until: window.until.toISOString() },
  });
  const events: PipelineEvent[] = [];
  const stopAfter = window.until.getTime() + window.lookAheadMs;
  let done = false;
  let settle: (error?: Error) => void = () => undefined;
  const finished = new Promise<void>((resolve, reject) => {
    settle = (error) => (error ? reject(error) : resolve());
  });
  // Deliveries already on their way after the end are not part of the window.
  const finish = (error?: Error) => {
    done = true;
    settle(error);
  };
  let idle: NodeJS.Timeout | undefined;
  const armIdle = () => {
    clearTimeout(idle);
    idle = setTimeout(() => finish(new Error(`events.audit sent nothing for ${window.idleTimeoutMs} ms before the replay caught up`)), window.idleTimeoutMs);
  };
  armIdle();
  const handle = broker.consume(
    QUEUES.audit,
    500,
    (message, channel) => {
      try {
        channel.ack(message);
      } catch {
        // A closed channel is set up again by the broker connection and reads from `since` once more.
      }
      if (done) return;
      armIdle();
      for (const read of readEventDelivery(message)) {
        if ('problem' in read) {
          // Only an event where its stage may be said is history: a `received` under another stage's key, or on a hop that does not carry it, is never replayed.
          if (read.event_id !== undefined && !refused.some((seen) => seen.event_id === read.event_id))
            refused.push({ event_id: read.event_id, reason: read.problem });
          continue;
        }
        const { event } = read;
        if (isStage(event, 'replay_started') && event.detail.replay_id === replayId) return finish();
        const at = Date.parse(event.timestamp);
        if (at > stopAfter) return finish();
        if (at >= window.since.getTime() && !events.some((seen) => seen.event_id === event.event_id)) events.push(event);
      }
    },
    () => ({ 'x-stream-offset': { '!': 'timestamp', value: Math.floor((window.since.getTime() - CLOCK_MARGIN_MS) / 1000) } }),
  );
  try {
    await finished;
  } finally {
    clearTimeout(idle);
    await handle.cancel();
    await handle.close();
  }
  return events;
}

/** Re-runs the emails received in the window through `options.stage`. */
export async function replayFromAudit(broker: Broker, options: ReplayOptions): Promise<ReplayReport> {
  const replayId = randomUUID();
  const marker: ReplayMarker = { replay_id: replayId, shadow: options.shadow };
  const refused: RefusedEvent[] = [];
  const events = await readAuditWindow(
    broker,
    {
      since: options.since,
      until: options.until,
      lookAheadMs: LOOK_AHEAD_MS[options.stage],
      idleTimeoutMs: options.idleTimeoutMs ?? 15_000,
    },
    replayId,
    refused,
  );
  const report: ReplayReport = { replay_id: replayId, replayed: [], skipped: [], events_read: events.length, refused };
  const mailbox = options.mailbox?.toLowerCase();
  const received = new Map<string, PipelineEvent>();
  for (const event of events) {
    if (event.stage !== 'received' || !event.email_id || event.role !== 'poller') continue;
    if (Date.parse(event.timestamp) >= options.until.getTime()) continue;
    if (mailbox && event.agent_email?.toLowerCase() !== mailbox) continue;
    if (!received.has(event.email_id)) received.set(event.email_id, event);
  }
  // Outcomes of earlier replays are not the email's history: a respond replay uses the original classification.
  const originals = events.filter((event) => event.detail.replay === undefined);
  for (const [emailId, event] of received) {
    const built = buildMessage(
      options.stage,
      event,
      originals.filter((candidate) => candidate.email_id === emailId),
    );
    if ('reason' in built) {
      report.skipped.push({ email_id: emailId, reason: built.reason });
      continue;
    }
    const { email } = built.message;
    if (!options.dryRun) {
      await broker.publish(built.stage, built.message, { priority: email.priority, headers: replayHeaders(marker) });
      await publishEvent(
        broker,
        'replay',
        markedAsReplay(
          {
            stage: 'replayed',
            email_id: emailId,
            agent_email: email.agent_email,
            detail: { source: 'audit_stream', target_stage: options.stage, received_event_id: event.event_id },
          },
          marker,
        ),
      );
    }
    report.replayed.push({ email_id: emailId, agent_email: email.agent_email, received_at: event.timestamp });
  }
  return report;
}

type Built = { stage: typeof toClassify; message: ToClassifyMessage } | { stage: typeof toRespond; message: ToRespondMessage } | { reason: string };

/** The message for the stage's queue, a fresh envelope chained to the original. */
function buildMessage(stage: ReplayStage, received: PipelineEvent, history: PipelineEvent[]): Built {
  const original = toClassifySchema.safeParse(received.detail.message);
  if (!original.success) return { reason: 'the received event holds no copy of the email (published before replay support, or not by the poller)' };
  const envelope = { ...original.data, message_id: randomUUID(), timestamp: new Date().toISOString(), original_message_id: original.data.message_id };
  if (stage === 'classify') return { stage: REPLAY_STAGES.classify, message: envelope };
  const classification = history.filter((event) => isStage(event, 'classified', 'ignored')).at(-1);
  if (!classification) return { reason: 'no classification of the email in the stream' };
  if (classification.stage === 'ignored') return { reason: 'classified as not a support inquiry' };
  const message = toRespondSchema.safeParse({
    ...envelope,
    classification: { ...classification.detail, provider: classification.provider ?? 'unknown', model: classification.model ?? 'unknown' },
  });
  return message.success
    ? { stage: REPLAY_STAGES.respond, message: message.data }
    : { reason: `the classified event is incomplete: ${message.error.issues[0]?.message ?? 'invalid'}` };
}
