/**
 * The pipeline's events: what each stage says on the `events` topic exchange (routing key
 * `<email|document>.<stage>`), kept by the `events.audit` stream for the activity log, the
 * dashboard and replay. One vocabulary, two views of it:
 *
 * - {@link StageDetails}: what an emitter must put in `detail` for each stage. `emit` and
 *   `publishEvent` take {@link EventFields}, a union keyed by `stage`, so a missing or mistyped
 *   `detail` field does not compile.
 * - {@link PipelineEvent}: an event as read back (src/pipeline/event-reading.ts). The stream holds
 *   events of every version that ever wrote to it, so reading is lenient: a known stage's detail
 *   fields are typed and optional, and a stage this version does not know (older or newer) reads as
 *   an {@link OtherStageEvent} with its detail as it came. Readers narrow with {@link isStage}.
 */
import type { Classification, GeneratedResponse, ToClassifyMessage, ToSendMessage } from './messages.js';
import type { z } from 'zod';
import type { DETAIL_READERS } from './detail-readers.js';

/** What travels with a replayed message and everything derived from it (src/messaging/audit-replay.ts); it marks the events a replay produced. */
export interface ReplayMarker {
  replay_id: string;
  shadow: boolean;
}

/** What the poller read of an email, for the summary row. */
type EmailHeadline = {
  from: string;
  subject: string;
  received_at: string;
  priority: number;
};

/** The classifier's verdict; `usage` and `input_cut` are for reading the audit trail only. */
type ClassificationDetail = Omit<Classification, 'provider' | 'model'> & { usage: unknown; input_cut?: unknown };

/** How a reply was delivered: `message_id` is the reply's own Message-ID. */
type DeliveryDetail = {
  message_id: string;
  /** The mailbox's send mode (`auto`, `review`, `draft`, `shadow`). */
  mode: string;
  /** The mailbox's id of the sent mail or draft. */
  provider_id?: string;
  /** Set when a sender found the reply already in the mailbox and said its outcome again. */
  found_in_mailbox?: true;
};

/** The reply as it went out (or, shadowed, would have): the activity log keeps it whole for the conversation view. */
type ReplyText = { subject?: string; body?: string };

/** A reply left for a person; the whole message rides along so the recorder can open a review from it. */
type DraftDetail = DeliveryDetail & {
  reason?: string;
  /** Absent only when an earlier sender's draft was found in the mailbox without it. */
  message?: ToSendMessage;
};

/** What each stage puts in `detail`, as its emitter must write it. */
export interface StageDetails {
  /** The poller's email; `message` is the `emails.to_classify` message it published (replay reads it). */
  received: EmailHeadline & { message: ToClassifyMessage };
  /** Automated mail the poller did not publish. */
  skipped: EmailHeadline & { reason: string };
  classified: ClassificationDetail;
  ignored: ClassificationDetail;
  retrieved: { top_score: number; chunks: Array<{ source: string; page: number; score: number }> };
  replied: {
    handoff: boolean;
    decision: NonNullable<GeneratedResponse['decision']>;
    verdict?: unknown;
    coverage?: number;
    claims?: number;
    /** The start of the reply's body. */
    excerpt: string;
    citations: Array<{ source: string; page: number; title?: string }>;
    input_cut?: unknown;
  };
  sent: DeliveryDetail &
    ReplyText & {
      approved_by?: string;
      edited?: boolean;
      quota_remaining?: number;
      draft_removed?: boolean | null;
      /** Set when an earlier sender's reply had left (SMTP accepted it) and this one only filed its copy. */
      transmitted_earlier?: true;
    };
  drafted: DraftDetail;
  handed_off: DraftDetail;
  shadowed: DeliveryDetail & ReplyText & { reason?: string };
  dead_lettered: { error_message: string; error_type: string; queue: string; retry_count: number };
  /** A replay from the dead-letter queue (`dlq`) or from the audit stream (`replay`). */
  replayed:
    | { original_queue: string | null; reason: string | null; dead_letter_id: string }
    | { source: 'audit_stream'; target_stage: string; received_event_id: string };
  replay_started: { replay_id: string; since: string; until: string };
  queued: { filename: string; path: string; bytes: number };
  ingest_progress: { pages_done: number; pages_total: number; filename: string };
  /** `reader_peak_mib`: peak resident size of the process that read the PDF (pdf-sandbox.ts). */
  ingested: { filename: string; pages: number; chunks: number; reader_peak_mib?: number };
  deleted: { filename: string; by: string };
  review_approved: { by: string; edited: boolean; body?: string };
  review_rejected: { by: string; note: string | null };
}

/** The name of a stage this version knows. */
export type StageName = keyof StageDetails;

/**
 * The detail of each known stage as read back (src/pipeline/detail-readers.ts); a stage without a
 * reader does not compile. Every detail may carry the replay that produced it; readers only ask
 * whether it is there.
 */
export type ReadDetails = { [S in StageName]: z.output<(typeof DETAIL_READERS)[S]> & { replay?: unknown } };

/** The fields every event has besides its stage and detail. */
export interface EventEnvelope {
  event_id: string;
  timestamp: string;
  email_id: string | null;
  document_id: string | null;
  agent_email: string | null;
  /** The role that published the event. */
  role: string;
  duration_ms: number | null;
  provider: string | null;
  model: string | null;
}

/** Every detail may say which replay produced it. */
type Emitted<S extends StageName> = StageDetails[S] & { replay?: ReplayMarker };

/**
 * What a role says about a stage; the rest of the event is filled in by the publisher. `timestamp`
 * defaults to now; give it when the stage happened earlier than its event is published (a decision
 * recorded before the work it started), so timelines read in the order things happened. `event_id`
 * defaults to a new id; give one of your own making (the same on every try of the same outcome) to
 * say an outcome again that may or may not have been said: the activity log keeps one per id.
 */
export type EventFields = {
  [S in StageName]: Partial<Omit<EventEnvelope, 'role'>> & { stage: S; detail: Emitted<S> };
}[StageName];

/** An event as its publisher built it: every field set, the detail as {@link StageDetails} says. */
export type EmittedEvent = { [S in StageName]: EventEnvelope & { stage: S; detail: Emitted<S> } }[StageName];

/** An event of a known stage as read back: its detail's fields typed, each of them optional. */
export type KnownEvent = { [S in StageName]: EventEnvelope & { stage: S; detail: ReadDetails[S] } }[StageName];

/** An event of a stage this version does not know (written by an older or a newer one). */
export interface OtherStageEvent extends EventEnvelope {
  stage: string;
  detail: Record<string, unknown>;
}

/** An event as read from the audit stream or the activity log. */
export type PipelineEvent = KnownEvent | OtherStageEvent;

/** The known event of `stage`. */
export type EventOf<S extends StageName> = Extract<KnownEvent, { stage: S }>;

/**
 * Narrows an event to one of `stages`. A check of `event.stage` alone does not narrow
 * {@link PipelineEvent}: an {@link OtherStageEvent}'s stage is any string.
 */
export function isStage<S extends StageName>(event: PipelineEvent, ...stages: S[]): event is EventOf<S> {
  return (stages as string[]).includes(event.stage);
}

/** Stages whose emitted detail a reader could not take (src/pipeline/detail-readers.ts); none, or this file does not compile. */
type UnreadableStages = { [S in StageName]: Extract<EmittedEvent, { stage: S }> extends EventOf<S> ? never : S }[StageName];
type Assert<T extends true> = T;
/** Compile-time check: every event a role can emit reads back as the known event of its stage. */
export type EmittedEventsAreReadable = Assert<[UnreadableStages] extends [never] ? true : UnreadableStages>;
/** Compile-time check: every reader is the reader of a stage (a misspelt one would never be used). */
export type ReadersAreOfStages = Assert<Exclude<keyof typeof DETAIL_READERS, StageName> extends never ? true : Exclude<keyof typeof DETAIL_READERS, StageName>>;
