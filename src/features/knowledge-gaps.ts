/**
 * What the manuals are missing: the questions of a period that were handed off or whose best
 * passage scored low, grouped by the key terms they share (a stemmed word two or more questions
 * use), with counts and examples, and the manual pages replies cited most. Shared terms are a
 * start, not a topic model: a group is named by its term and the word its questions use most with it.
 */
import { stemmer } from 'stemmer';
import { deu, eng, fra, ita, nld, por, spa } from 'stopword';
import { emailQuery } from '../rag/email-query.js';
import type { SqlClient } from '../store/sql.js';
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
export async function knowledgeGaps(database: SqlClient, query: GapQuery, { examplesPerGroup = EXAMPLES_PER_GROUP } = {}): Promise<KnowledgeGaps> {
  const arrivedAt = arrivedAtSql(database, 'email.');
  // The period and mailbox, as SQL and its parameters, shared by every query below.
  const inPeriod = {
    sql: `${arrivedAt} >= ? AND ${arrivedAt} < ? ${query.agentEmail === undefined ? '' : 'AND email.agent_email = ?'}`,
    parameters: [query.fromIso, query.toIso, ...(query.agentEmail === undefined ? [] : [query.agentEmail])],
  };
  const rows = await database.all<QuestionRow>(
    `SELECT email.email_id, email.subject, email.state, email.top_score, email.handoff, contents.customer_body
    FROM emails AS email LEFT JOIN email_contents AS contents ON contents.email_id = email.email_id
    WHERE ${inPeriod.sql}
      AND email.is_support_inquiry = 1
      AND (email.state = 'handed_off' OR email.handoff = 1 OR (email.top_score IS NOT NULL AND email.top_score < ?))
    ORDER BY ${arrivedAt} DESC`,
    [...inPeriod.parameters, query.lowScore],
  );

  // The mailbox's own name ("acme" of support@acme.example) says nothing about what a question asks.
  const ownWords = new Set((query.agentEmail ?? '').split(/[@.]/).map((word) => stemmer(word.toLowerCase())));
  const everyday = await commonTerms(database, inPeriod);
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

  const cited = citedPages(
    await database.all<{ citations: string }>(
      `SELECT email.citations FROM emails AS email WHERE email.citations IS NOT NULL AND ${inPeriod.sql}`,
      inPeriod.parameters,
    ),
  );

  return { questions: questions.length, groups, cited_pages: cited };
}

/**
 * The pages the replies' citations name, most cited first, at most {@link MAX_CITED_PAGES}: counted
 * here rather than in SQL, whose JSON functions the two engines do not share.
 */
function citedPages(rows: Array<{ citations: string }>): KnowledgeGaps['cited_pages'] {
  const pages = new Map<string, KnowledgeGaps['cited_pages'][number]>();
  for (const row of rows) {
    for (const citation of JSON.parse(row.citations) as Array<{ source?: string; title?: string; page?: number }>) {
      const source = citation.source ?? '';
      const page = citation.page ?? null;
      const key = JSON.stringify([source, page]);
      const counted = pages.get(key) ?? { source, title: citation.title ?? null, page, count: 0 };
      counted.count += 1;
      pages.set(key, counted);
    }
  }
  const byText = (left: string, right: string) => (left < right ? -1 : left > right ? 1 : 0);
  return [...pages.values()]
    .sort((left, right) => right.count - left.count || byText(left.source, right.source) || (left.page ?? -Infinity) - (right.page ?? -Infinity))
    .slice(0, MAX_CITED_PAGES);
}

/** The terms more than {@link COMMON_SHARE} of the period's support emails use. */
async function commonTerms(database: SqlClient, inPeriod: { sql: string; parameters: string[] }): Promise<Set<string>> {
  const rows = await database.all<{ subject: string | null; customer_body: string | null }>(
    `SELECT email.subject, contents.customer_body FROM emails AS email LEFT JOIN email_contents AS contents ON contents.email_id = email.email_id
    WHERE ${inPeriod.sql} AND email.is_support_inquiry = 1`,
    inPeriod.parameters,
  );
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
