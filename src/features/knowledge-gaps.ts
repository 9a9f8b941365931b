/**
 * What the manuals are missing: the questions of a period that were handed off or whose best
 * passage scored low, grouped by the key terms they share (a stemmed word two or more questions
 * use), with counts and examples, and the manual pages replies cited most. Shared terms are a
 * start, not a topic model: a group is named by its term and the word its questions use most with it.
 */
import { stemmer } from 'stemmer';
import { deu, eng, fra, ita, nld, por, spa } from 'stopword';
import { emailQuery } from '../rag/email-query.js';
import { prepared, type Database } from '../store/database.js';
import { arrivedAtSql } from '../store/statistics.js';

/** The period, mailbox and what counts as low relevance. */
export interface GapQuery {
  agentEmail?: string;
  /** ISO-8601 instants; `from` inclusive, `to` exclusive. */
  fromIso: string;
  toIso: string;
  /** A question whose best passage scored below this is a gap even if it was answered. */
  lowScore: number;
}

/** One question the manuals did not answer well. */
export interface GapQuestion {
  email_id: string;
  subject: string;
  state: string;
  top_score: number | null;
  /** Why it is a gap. */
  why: 'handed_off' | 'low_relevance';
}

export interface GapGroup {
  /** The shared term (and its most frequent companion), e.g. `warranty · battery`. */
  label: string;
  terms: string[];
  count: number;
  /** Its questions, newest first, up to the `examplesPerGroup` asked for. */
  examples: GapQuestion[];
}

export interface KnowledgeGaps {
  questions: number;
  groups: GapGroup[];
  /** Manual pages cited by replies of the period, most cited first. */
  cited_pages: Array<{ source: string; title: string | null; page: number | null; count: number }>;
}

const EXAMPLES_PER_GROUP = 3;
const MAX_CITED_PAGES = 20;
/** Words of every support email that say nothing about what it asks. */
const SUPPORT_WORDS = [
  ...['hello', 'hi', 'dear', 'thanks', 'thank', 'please', 'help', 'question', 'regards', 'support', 'team', 'problem', 'issue', 'anyone', 'know'],
  ...['does', 'can', 'could', 'would', 'get', 'need', 'want', 'use', 'using', 'work', 'working', 'tell', 'still', 'also', 'urgent'],
];
/** A term more than this share of the period's support emails use is the mailbox's everyday vocabulary (its product's name), not a topic. */
const COMMON_SHARE = 0.5;
/** Below this many support emails no term is called common: too few to tell. */
const COMMON_MIN_EMAILS = 6;
const STOPWORDS = new Set([...eng, ...deu, ...fra, ...spa, ...ita, ...nld, ...por, ...SUPPORT_WORDS].map((word) => word.toLowerCase()));

/** The key terms of a text: stems of its content words, with the surface form seen for each. */
export function keyTerms(text: string): Map<string, string> {
  const terms = new Map<string, string>();
  for (const word of text.toLowerCase().match(/\p{L}[\p{L}\p{N}'-]*/gu) ?? []) {
    const bare = word.replace(/['-]+$/, '');
    if (bare.length < 3 || STOPWORDS.has(bare)) continue;
    const stem = stemmer(bare);
    if (!terms.has(stem)) terms.set(stem, bare);
  }
  return terms;
}

interface QuestionRow {
  email_id: string;
  subject: string | null;
  state: string;
  top_score: number | null;
  handoff: number | null;
  customer_body: string | null;
}

/**
 * The gaps of a period. `examplesPerGroup` (default 3) bounds the examples of each group; the CSV
 * export asks for all of them.
 */
export function knowledgeGaps(database: Database, query: GapQuery, { examplesPerGroup = EXAMPLES_PER_GROUP } = {}): KnowledgeGaps {
  const mailbox = query.agentEmail === undefined ? '' : 'AND email.agent_email = @agentEmail';
  const parameters = { start: query.fromIso, end: query.toIso, agentEmail: query.agentEmail, lowScore: query.lowScore };
  const rows = prepared(
    database,
    `SELECT email.email_id, email.subject, email.state, email.top_score, email.handoff, contents.customer_body
    FROM emails AS email LEFT JOIN email_contents AS contents ON contents.email_id = email.email_id
    WHERE ${arrivedAtSql('email.')} >= @start AND ${arrivedAtSql('email.')} < @end ${mailbox}
      AND email.is_support_inquiry = 1
      AND (email.state = 'handed_off' OR email.handoff = 1 OR (email.top_score IS NOT NULL AND email.top_score < @lowScore))
    ORDER BY ${arrivedAtSql('email.')} DESC`,
  ).all(parameters) as QuestionRow[];

  // The mailbox's own name ("acme" of support@acme.example) says nothing about what a question asks.
  const ownWords = new Set((query.agentEmail ?? '').split(/[@.]/).map((word) => stemmer(word.toLowerCase())));
  const everyday = commonTerms(database, parameters, mailbox);
  const isKey = (stem: string) => !ownWords.has(stem) && !everyday.has(stem);
  const questions = rows.map((row) => {
    const question: GapQuestion = {
      email_id: row.email_id,
      subject: row.subject ?? '(no subject)',
      state: row.state,
      top_score: row.top_score,
      why: row.state === 'handed_off' || row.handoff === 1 ? 'handed_off' : 'low_relevance',
    };
    const terms = keyTerms(emailQuery({ subject: row.subject ?? '', body: row.customer_body ?? '' }));
    return { question, terms: new Map([...terms].filter(([stem]) => isKey(stem))) };
  });

  // How many questions use each term; a term of one question only groups nothing.
  const frequency = new Map<string, number>();
  const surface = new Map<string, string>();
  for (const { terms } of questions) {
    for (const [stem, word] of terms) {
      frequency.set(stem, (frequency.get(stem) ?? 0) + 1);
      if (!surface.has(stem)) surface.set(stem, word);
    }
  }
  const shared = [...frequency].filter(([, count]) => count >= 2).sort((left, right) => right[1] - left[1] || left[0].localeCompare(right[0]));

  const groups: GapGroup[] = [];
  const grouped = new Set<number>();
  for (const [stem] of shared) {
    const members = questions.map((item, index) => ({ ...item, index })).filter((item) => !grouped.has(item.index) && item.terms.has(stem));
    if (members.length < 2) continue;
    for (const member of members) grouped.add(member.index);
    // The companion: the other term most members share, to tell "battery · warranty" from "battery · charging".
    const companions = new Map<string, number>();
    for (const member of members) for (const other of member.terms.keys()) if (other !== stem) companions.set(other, (companions.get(other) ?? 0) + 1);
    const companion = [...companions].filter(([, count]) => count >= 2).sort((left, right) => right[1] - left[1] || left[0].localeCompare(right[0]))[0]?.[0];
    const terms = [stem, companion].filter((term): term is string => term !== undefined).map((term) => surface.get(term) ?? term);
    groups.push({ label: terms.join(' · '), terms, count: members.length, examples: members.slice(0, examplesPerGroup).map((member) => member.question) });
  }
  for (const [index, { question, terms }] of questions.entries()) {
    if (grouped.has(index)) continue;
    const first = [...terms.values()].slice(0, 2);
    groups.push({ label: first.length ? first.join(' · ') : question.subject, terms: first, count: 1, examples: [question] });
  }

  const cited = prepared(
    database,
    `SELECT json_extract(citation.value, '$.source') AS source, json_extract(citation.value, '$.title') AS title,
      json_extract(citation.value, '$.page') AS page, COUNT(*) AS count
    FROM emails AS email, json_each(email.citations) AS citation
    WHERE email.citations IS NOT NULL AND ${arrivedAtSql('email.')} >= @start AND ${arrivedAtSql('email.')} < @end ${mailbox}
    GROUP BY source, page ORDER BY count DESC, source, page LIMIT ${MAX_CITED_PAGES}`,
  ).all(parameters) as KnowledgeGaps['cited_pages'];

  return { questions: questions.length, groups, cited_pages: cited };
}

/** The terms more than {@link COMMON_SHARE} of the period's support emails use. */
function commonTerms(database: Database, parameters: Record<string, unknown>, mailbox: string): Set<string> {
  const rows = prepared(
    database,
    `SELECT email.subject, contents.customer_body FROM emails AS email LEFT JOIN email_contents AS contents ON contents.email_id = email.email_id
    WHERE ${arrivedAtSql('email.')} >= @start AND ${arrivedAtSql('email.')} < @end ${mailbox} AND email.is_support_inquiry = 1`,
  ).all(parameters) as Array<{ subject: string | null; customer_body: string | null }>;
  if (rows.length < COMMON_MIN_EMAILS) return new Set();
  const counts = new Map<string, number>();
  for (const row of rows) {
    for (const stem of keyTerms(emailQuery({ subject: row.subject ?? '', body: row.customer_body ?? '' })).keys())
      counts.set(stem, (counts.get(stem) ?? 0) + 1);
  }
  return new Set([...counts].filter(([, count]) => count > rows.length * COMMON_SHARE).map(([stem]) => stem));
}

/** A CSV field: quoted when needed, and a leading `=`, `+`, `-` or `@` defused so a spreadsheet does not run it. */
function csvField(value: string | number | null): string {
  const text = value === null ? '' : String(value);
  const safe = /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
  return /[",\n\r]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}

/** One line per question (of the examples asked for), with its group: what a lead hands to whoever writes the manuals. */
export function knowledgeGapsCsv(gaps: KnowledgeGaps): string {
  const lines = [['group', 'group_count', 'email_id', 'subject', 'why', 'state', 'top_score'].join(',')];
  for (const group of gaps.groups) {
    for (const question of group.examples) {
      lines.push([group.label, group.count, question.email_id, question.subject, question.why, question.state, question.top_score].map(csvField).join(','));
    }
  }
  lines.push('', ['cited_source', 'title', 'page', 'citations'].join(','));
  for (const page of gaps.cited_pages) lines.push([page.source, page.title, page.page, page.count].map(csvField).join(','));
  return `${lines.join('\r\n')}\r\n`;
}
