/**
 * How well a mailbox is doing over a period, from the activity log and the review queue: emails by
 * outcome per day, the share answered without a person, how long customers waited for a reply, what
 * reviewers did with drafts, and why emails were handed off or drafted.
 *
 * An email belongs to the day it arrived: its `received` (or `skipped`) event's time, never the
 * Date header the sender wrote. Days are calendar days at `utcOffsetMinutes` (the reader's zone).
 */
import { jsonText, type SqlClient } from './sql.js';

/** The outcome columns of a day, in the order a chart stacks them. */
export const OUTCOMES = [
  'auto_sent',
  'approved_sent',
  'drafted',
  'handed_off',
  'rejected',
  'ignored',
  'skipped',
  'dead_lettered',
  'shadowed',
  'in_progress',
] as const;
/** One of {@link OUTCOMES}. */
export type Outcome = (typeof OUTCOMES)[number];

/** The period and mailbox asked about. */
export interface StatisticsQuery {
  agentEmail?: string;
  /** First day, `YYYY-MM-DD`, inclusive. */
  from: string;
  /** Last day, `YYYY-MM-DD`, inclusive. */
  to: string;
  /** The reader's offset from UTC in minutes (e.g. 60 for CET); default 0. */
  utcOffsetMinutes?: number;
}

/** Median and 90th percentile of a set of durations (nearest rank), and how many there were. */
export interface Spread {
  count: number;
  median_ms: number | null;
  p90_ms: number | null;
}

export interface Statistics {
  from: string;
  to: string;
  agent_email: string | null;
  days: Array<{ day: string } & Record<Outcome, number>>;
  totals: Record<Outcome, number> & { emails: number };
  /** Auto-sent among the emails that got a reply decision (sent, drafted, handed off, rejected); null without any. */
  auto_send_rate: number | null;
  /** From arrival to the reply going out: all sent replies, those sent on their own, those a person approved. */
  time_to_reply: { all: Spread; auto: Spread; reviewed: Spread };
  /** What reviewers did with the drafts opened in the period. */
  reviews: { approved_unchanged: number; approved_edited: number; rejected: number; pending: number };
  /** Why emails ended handed off / drafted, most frequent first. */
  handoff_reasons: Array<{ reason: string; count: number }>;
  draft_reasons: Array<{ reason: string; count: number }>;
}

const DAY_MS = 86_400_000;

/** The UTC instant a local day starts at, for `utcOffsetMinutes`. */
function dayStartMs(day: string, utcOffsetMinutes: number): number {
  return Date.parse(`${day}T00:00:00.000Z`) - utcOffsetMinutes * 60_000;
}

function dayOf(ms: number, utcOffsetMinutes: number): string {
  return new Date(ms + utcOffsetMinutes * 60_000).toISOString().slice(0, 10);
}

function outcomeOf(state: string, sendMode: string | null): Outcome {
  if (state === 'sent') return sendMode === 'auto' ? 'auto_sent' : 'approved_sent';
  return (OUTCOMES as readonly string[]).includes(state) ? (state as Outcome) : 'in_progress';
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: number[], fraction: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(fraction * sorted.length) - 1))];
}

function spread(values: number[]): Spread {
  const sorted = [...values].sort((left, right) => left - right);
  return { count: sorted.length, median_ms: percentile(sorted, 0.5), p90_ms: percentile(sorted, 0.9) };
}

/**
 * A reason without its figures, so the same cause counts once: `retrieval score 0.21 below 0.3` →
 * `retrieval score below the threshold`; `no single valid recipient: …` → `no single valid recipient`.
 */
export function reasonKind(reason: string): string {
  const threshold = /^(.+?) -?\d+(?:\.\d+)? (?:below|<) -?\d+(?:\.\d+)?$/.exec(reason.trim());
  if (threshold) return `${threshold[1]} below the threshold`;
  const colon = reason.indexOf(':');
  return (colon > 0 ? reason.slice(0, colon) : reason).trim();
}

function countReasons(reasons: string[]): Array<{ reason: string; count: number }> {
  const counts = new Map<string, number>();
  for (const reason of reasons) counts.set(reason, (counts.get(reason) ?? 0) + 1);
  return [...counts].map(([reason, count]) => ({ reason, count })).sort((left, right) => right.count - left.count || left.reason.localeCompare(right.reason));
}

/** The arrival time of an email, as SQL over the summary row (`prefix`: the table's alias and a dot). */
export function arrivedAtSql(client: SqlClient, prefix = ''): string {
  const stage = (name: string) => jsonText(client, `${prefix}stages`, [name, 'timestamp']);
  return `COALESCE(${stage('received')}, ${stage('skipped')}, ${prefix}first_seen_at)`;
}

interface EmailRow {
  email_id: string;
  state: string;
  send_mode: string | null;
  arrived_at: string;
  sent_at: string | null;
}

export async function statistics(database: SqlClient, query: StatisticsQuery): Promise<Statistics> {
  const offset = query.utcOffsetMinutes ?? 0;
  const startMs = dayStartMs(query.from, offset);
  const endMs = dayStartMs(query.to, offset) + DAY_MS;
  const period = [new Date(startMs).toISOString(), new Date(endMs).toISOString()];
  const mailbox = query.agentEmail === undefined ? '' : 'AND agent_email = ?';
  const parameters = query.agentEmail === undefined ? period : [...period, query.agentEmail];
  const arrivedAt = arrivedAtSql(database);
  const rows = await database.all<EmailRow>(
    `SELECT email_id, state, send_mode, ${arrivedAt} AS arrived_at, ${jsonText(database, 'stages', ['sent', 'timestamp'])} AS sent_at
    FROM emails WHERE ${arrivedAt} >= ? AND ${arrivedAt} < ? ${mailbox}`,
    parameters,
  );

  const empty = () => Object.fromEntries(OUTCOMES.map((outcome) => [outcome, 0])) as Record<Outcome, number>;
  const days = new Map<string, Record<Outcome, number>>();
  for (let ms = startMs; ms < endMs; ms += DAY_MS) days.set(dayOf(ms, offset), empty());
  const totals = empty();
  const waits = { all: [] as number[], auto: [] as number[], reviewed: [] as number[] };
  for (const row of rows) {
    const outcome = outcomeOf(row.state, row.send_mode);
    const arrived = Date.parse(row.arrived_at);
    const day = days.get(dayOf(arrived, offset));
    if (day) day[outcome] += 1;
    totals[outcome] += 1;
    if (row.state === 'sent' && row.sent_at) {
      const wait = Math.max(0, Date.parse(row.sent_at) - arrived);
      waits.all.push(wait);
      (outcome === 'auto_sent' ? waits.auto : waits.reviewed).push(wait);
    }
  }
  const decided = totals.auto_sent + totals.approved_sent + totals.drafted + totals.handed_off + totals.rejected;

  const reviewRows = await database.all<{ status: string; edited: number; total: number }>(
    `SELECT status, edited, COUNT(*) AS total FROM reviews WHERE created_at >= ? AND created_at < ? ${mailbox} GROUP BY status, edited`,
    parameters,
  );
  const reviews = { approved_unchanged: 0, approved_edited: 0, rejected: 0, pending: 0 };
  for (const { status, edited, total } of reviewRows) {
    if (status === 'rejected') reviews.rejected += total;
    else if (status === 'pending') reviews.pending += total;
    else if (edited === 1) reviews.approved_edited += total;
    else reviews.approved_unchanged += total;
  }

  // The sender's reason of each email's latest draft or hand-off: the responder's decision, the mode, or a missing recipient.
  const arrivedAtEmail = arrivedAtSql(database, 'email.');
  const reasonRows = await database.all<{ email_id: string; stage: string; reason: string | null; at_ms: number }>(
    `SELECT events.email_id AS email_id, events.stage AS stage, ${jsonText(database, 'events.detail', ['reason'])} AS reason, events.timestamp_ms AS at_ms
    FROM events JOIN emails AS email ON email.email_id = events.email_id AND email.state = events.stage
    WHERE events.stage IN ('drafted', 'handed_off') AND ${arrivedAtEmail} >= ? AND ${arrivedAtEmail} < ?
      ${query.agentEmail === undefined ? '' : 'AND email.agent_email = ?'}`,
    parameters,
  );
  const latest = new Map<string, (typeof reasonRows)[number]>();
  for (const row of reasonRows) {
    const seen = latest.get(row.email_id);
    if (seen === undefined || row.at_ms > seen.at_ms) latest.set(row.email_id, row);
  }
  const reasonsOf = (stage: string) =>
    [...latest.values()].filter((row) => row.stage === stage).flatMap((row) => (row.reason ?? 'no reason recorded').split('; ').map(reasonKind));

  return {
    from: query.from,
    to: query.to,
    agent_email: query.agentEmail ?? null,
    days: [...days].map(([day, counts]) => ({ day, ...counts })),
    totals: { ...totals, emails: rows.length },
    auto_send_rate: decided === 0 ? null : totals.auto_sent / decided,
    time_to_reply: { all: spread(waits.all), auto: spread(waits.auto), reviewed: spread(waits.reviewed) },
    reviews,
    handoff_reasons: countReasons(reasonsOf('handed_off')),
    draft_reasons: countReasons(reasonsOf('drafted')),
  };
}
