/**
 * What readers take from each known stage's `detail` (src/pipeline/event-reading.ts says why reading
 * is lenient; src/pipeline/events.ts what emitters write, and checks that every stage has a reader
 * here and that every detail an emitter can write reads back).
 */
import { z } from 'zod';

/** A field of an event of any version: absent, or of the wrong type, it reads as undefined. */
const lenient = <T extends z.ZodType>(schema: T) => schema.optional().catch(undefined);
const text = lenient(z.string());
const number = lenient(z.number());
const flag = lenient(z.boolean());
/** Taken as it came: the reader checks it with the message's own schema (an event's body is only a claim). */
const embeddedMessage = z.unknown().optional();

/** A cited source; a citation without one is dropped, a page that is not a number reads as null. */
const citation = z.looseObject({ source: z.string(), page: z.number().nullable().catch(null), title: text });
const citations = lenient(
  z.array(z.unknown()).transform((items) =>
    items.flatMap((item) => {
      const read = citation.safeParse(item);
      return read.success ? [read.data] : [];
    }),
  ),
);

const headline = { from: text, subject: text, received_at: text, priority: number };
const classification = { is_support_inquiry: flag, category: text, confidence: number, reasoning: text, language: text, review_reason: text };
const delivery = { mode: text, message_id: text, reason: text, provider_id: text };
const decision = { by: text, body: text, note: lenient(z.string().nullable()) };

/** What readers take from each known stage's detail (src/pipeline/events.ts says what emitters write). */
export const DETAIL_READERS = {
  received: z.looseObject({ ...headline, message: embeddedMessage }),
  skipped: z.looseObject({ ...headline, reason: text }),
  classified: z.looseObject(classification),
  ignored: z.looseObject(classification),
  /** `chunks` is a count in events of older versions, the list of passages now. */
  retrieved: z.looseObject({ top_score: number, chunks: lenient(z.union([z.array(z.unknown()), z.number()])) }),
  replied: z.looseObject({ handoff: flag, excerpt: text, citations }),
  sent: z.looseObject({ ...delivery, subject: text, body: text }),
  drafted: z.looseObject({ ...delivery, message: embeddedMessage }),
  handed_off: z.looseObject({ ...delivery, message: embeddedMessage }),
  shadowed: z.looseObject({ ...delivery, subject: text, body: text }),
  dead_lettered: z.looseObject({ error_message: text, error_type: text, queue: text }),
  replayed: z.looseObject({}),
  replay_started: z.looseObject({ replay_id: text }),
  queued: z.looseObject({ filename: text, path: text }),
  ingest_progress: z.looseObject({ pages_done: number, pages_total: number }),
  ingested: z.looseObject({ pages: number, chunks: number }),
  deleted: z.looseObject({}),
  review_approved: z.looseObject(decision),
  review_rejected: z.looseObject(decision),
};
