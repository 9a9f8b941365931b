/**
 * npm run eval: a small offline evaluation on the dev set in eval/ (see eval/README.md).
 *
 * Fetches the gnuplot manual (Debian's gnuplot-doc) into data/eval-cache/, ingests it into a fresh
 * SQLite vector store in a temporary DATA_DIR with the ingester's own handler, then sends each
 * question through the project's own path in this process: parseEmail (as the poller reads mail),
 * the classifier, responder and sender handlers (auto mode, a Maildir in the temporary folder), with
 * the broker and event stream replaced by captures. Prints retrieval, auto-send and classifier figures.
 */
import { execFileSync } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { createCache, createLanguageModel, createMailbox, createSendClaims, createVectorStore } from '../src/providers/factory.js';
import { parseEmail } from '../src/providers/mailbox/mime.js';
import { retrieveForEmail } from '../src/rag/retrieve.js';
import { createIngesterHandler } from '../src/roles/ingester.js';
import { createClassifierHandler } from '../src/roles/classifier.js';
import { createResponderHandler } from '../src/roles/responder.js';
import { createSenderHandler } from '../src/roles/sender.js';
import { openDatabase } from '../src/store/database.js';
import { SendLedger } from '../src/store/send-ledger.js';
import type { HandlerContext } from '../src/messaging/consumer.js';
import type { ToRespondMessage, ToSendMessage } from '../src/messaging/schemas.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const AGENT = 'support@gnuplot-eval.example';
const readJsonl = async <T>(file: string): Promise<T[]> => (await readFile(path.join(root, 'eval', file), 'utf8')).split('\n').filter((line) => line.trim()).map((line) => JSON.parse(line) as T);
interface Question { id: string; from: string; subject: string; body: string; answer_pages: number[] }
interface LabelledEmail { id: string; label: 'support' | 'not_support'; from: string; subject: string; body: string; headers?: Record<string, string> }

/** The manual: Debian's gnuplot-doc, downloaded once into data/eval-cache/ (not committed). */
async function manualPath(): Promise<string> {
  const cache = path.join(root, 'data', 'eval-cache');
  const pdf = path.join(cache, 'x', 'usr', 'share', 'doc', 'gnuplot', 'gnuplot.pdf');
  if (existsSync(pdf)) return pdf;
  await mkdir(cache, { recursive: true });
  if (!(await readdir(cache)).some((name) => name.startsWith('gnuplot-doc_'))) execFileSync('apt-get', ['download', 'gnuplot-doc'], { cwd: cache, stdio: 'inherit' });
  const deb = (await readdir(cache)).find((name) => name.startsWith('gnuplot-doc_') && name.endsWith('.deb'));
  execFileSync('dpkg', ['-x', path.join(cache, deb!), path.join(cache, 'x')]);
  return pdf;
}

/** An RFC 5322 message, so the email goes through the same parser as polled mail. */
function rawEmail(id: string, e: { from: string; subject: string; body: string; headers?: Record<string, string> }): string {
  const headers = { From: e.from, To: AGENT, Subject: e.subject, 'Message-ID': `<${id}@eval.ragmail>`, Date: 'Mon, 01 Jan 2024 09:00:00 +0000', 'Content-Type': 'text/plain; charset=utf-8', ...e.headers };
  return `${Object.entries(headers).map(([name, value]) => `${name}: ${value}`).join('\r\n')}\r\n\r\n${e.body}\r\n`;
}

const dataDir = await mkdtemp(path.join(tmpdir(), 'ragmail-eval-'));
const config = loadConfig({
  ...process.env, DATA_DIR: dataDir, MAILDIR_ROOT: '', DATABASE_PATH: '', VECTOR_DB_PATH: '', UPLOAD_DIR: '',
  VECTOR_STORE: 'sqlite', MAILBOX_PROVIDER: 'maildir', REDIS_URL: '', SEND_POLICY: 'auto', MAILBOX_POLICIES: '',
  SEND_RATE_PER_MINUTE: '100000', SEND_BURST: '100000', DAILY_SEND_QUOTA: '100000',
});
const logger = createLogger({ level: 'error', format: 'json', role: 'eval' });
const cache = createCache(config, logger);
const store = createVectorStore(config, cache, undefined);
const model = createLanguageModel(config, logger);
const database = openDatabase(config.DATABASE_PATH);

let published: unknown[] = [];
let lastReason = '';
const context = {
  role: 'eval', logger, signal: new AbortController().signal, attempt: 1, priority: undefined,
  broker: { publish: async (_exchange: string, _key: string, body: unknown) => { published.push(body); } },
  emit: async (fields: { detail?: { reason?: unknown } }) => { lastReason = typeof fields.detail?.reason === 'string' ? fields.detail.reason : ''; },
} as unknown as HandlerContext;
const envelope = () => ({ message_id: 'eval', timestamp: new Date(0).toISOString(), original_message_id: null });

// Ingest: the ingester's own handler. Dependencies of both versions of it (the old one reads `maxPages`).
const pdf = await manualPath();
await mkdir(config.UPLOAD_DIR, { recursive: true });
const stored = path.join(config.UPLOAD_DIR, 'gnuplot.pdf');
await copyFile(pdf, stored);
const ingestDeps = {
  store, uploadDir: config.UPLOAD_DIR, chunkSize: config.CHUNK_SIZE, chunkOverlap: config.CHUNK_OVERLAP, maxPages: config.MAX_PDF_PAGES, maxChunks: config.PDF_MAX_CHUNKS,
  pdfLimits: { maxPages: config.MAX_PDF_PAGES, maxPageChars: config.PDF_MAX_PAGE_CHARS, maxDocumentChars: config.PDF_MAX_DOCUMENT_CHARS, timeoutMs: config.PDF_PARSE_TIMEOUT_MS, maxMemoryMb: config.PDF_PARSE_MAX_MEMORY_MB },
};
await createIngesterHandler(ingestDeps)({ ...envelope(), document_id: 'gnuplot-manual', agent_email: AGENT, filename: 'gnuplot.pdf', path: stored }, context);

const classify = createClassifierHandler({ model });
const respond = createResponderHandler({ model, store, k: config.RETRIEVAL_K, relevanceThreshold: config.RELEVANCE_THRESHOLD });
const senderDeps = { config, mailbox: createMailbox(config, logger), claims: createSendClaims(config, database, logger), ledger: new SendLedger(database), reviews: { get: () => undefined } };
const send = createSenderHandler(senderDeps as Parameters<typeof createSenderHandler>[0]);

/** One email through poller parse → classifier → responder → sender; what became of it. */
async function pipeline(id: string, e: { from: string; subject: string; body: string; headers?: Record<string, string> }) {
  const { email, automated } = await parseEmail(rawEmail(id, e), { agentEmail: AGENT, mailboxRef: id });
  published = [];
  const classified = await classify({ ...envelope(), email } as Parameters<typeof classify>[0], context);
  if (classified.status !== 'classified') return { email, automated, support: false, outcome: 'ignored' };
  const toRespond = published[0] as ToRespondMessage;
  published = [];
  await respond(toRespond, context);
  const toSend = published[0] as ToSendMessage;
  lastReason = '';
  const sent = await send(toSend, context);
  return { email, automated, support: true, outcome: sent.status, toSend, reason: lastReason };
}

const pct = (n: number, d: number) => `${n}/${d} (${d ? ((100 * n) / d).toFixed(1) : '0.0'}%)`;
const questions = await readJsonl<Question>('questions.jsonl');
const answerable = questions.filter((q) => q.answer_pages.length > 0);
let at1 = 0, at3 = 0, autoSent = 0, autoCorrect = 0, unanswerableSent = 0, unanswerableHandoff = 0;
const samples: Array<{ id: string; subject: string; body: string; correct: boolean }> = [];
const rows: string[] = [];
for (const q of questions) {
  const result = await pipeline(q.id, q);
  const top = await retrieveForEmail(store, AGENT, result.email, 3);
  const pages = top.map((chunk) => chunk.page);
  const onAnswer = (page: number | undefined) => page !== undefined && q.answer_pages.includes(page);
  const cited = result.toSend?.context_used[0]?.page;
  const isSent = result.outcome === 'sent';
  if (q.answer_pages.length > 0) {
    if (onAnswer(pages[0])) at1++;
    if (pages.some(onAnswer)) at3++;
    if (isSent) autoSent++;
    if (isSent && onAnswer(cited)) autoCorrect++;
  } else {
    if (isSent) unanswerableSent++;
    if (!isSent) unanswerableHandoff++;
  }
  if (isSent && samples.length < 3) samples.push({ id: q.id, subject: result.toSend!.generated_response.subject, body: result.toSend!.generated_response.body, correct: onAnswer(cited) });
  rows.push(`${q.id}  expect=${q.answer_pages.join(',') || '-'}  top3=${pages.join(',')}  score=${(top[0]?.score ?? 0).toFixed(2)}  cited=${cited ?? '-'}  ${result.outcome}${result.reason ? ` (${result.reason})` : ''}`);
}

const emails = await readJsonl<LabelledEmail>('emails.jsonl');
let tp = 0, fp = 0, fn = 0, tn = 0, automatedCount = 0;
const wrong: string[] = [];
for (const e of emails) {
  const { email, automated } = await parseEmail(rawEmail(e.id, e), { agentEmail: AGENT, mailboxRef: e.id });
  if (automated) automatedCount++;
  published = [];
  const predicted = (await classify({ ...envelope(), email } as Parameters<typeof classify>[0], context)).status === 'classified';
  const actual = e.label === 'support';
  if (predicted !== actual) wrong.push(`${e.id} (${e.label}) ${e.subject}`);
  if (predicted && actual) tp++; else if (predicted) fp++; else if (actual) fn++; else tn++;
}

console.log(`ragmail eval: ${questions.length} questions (${answerable.length} answerable), ${emails.length} labelled emails; model ${config.LLM_PROVIDERS}, k=${config.RETRIEVAL_K}, threshold ${config.RELEVANCE_THRESHOLD}, auto-send min confidence ${config.AUTO_SEND_MIN_CONFIDENCE} / score ${config.AUTO_SEND_MIN_SCORE}`);
console.log('\nper question:');
for (const row of rows) console.log(`  ${row}`);
console.log('\nretrieval (answerable questions):');
console.log(`  recall@3                    ${pct(at3, answerable.length)}`);
console.log(`  recall@1                    ${pct(at1, answerable.length)}`);
console.log('auto mode (answerable questions):');
console.log(`  auto-sent                   ${pct(autoSent, answerable.length)}`);
console.log(`  auto-sent correct           ${pct(autoCorrect, answerable.length)}  (sent and the first cited passage is on an answer page)`);
console.log(`unanswerable questions:`);
console.log(`  auto-sent (should be 0)     ${pct(unanswerableSent, questions.length - answerable.length)}`);
console.log(`  not sent (handed off/draft) ${pct(unanswerableHandoff, questions.length - answerable.length)}`);
console.log(`classifier on emails.jsonl (support = positive):`);
console.log(`  accuracy                    ${pct(tp + tn, emails.length)}`);
console.log(`  precision                   ${pct(tp, tp + fp)}`);
console.log(`  recall                      ${pct(tp, tp + fn)}`);
console.log(`  (tp ${tp}, fp ${fp}, fn ${fn}, tn ${tn}; the poller would skip ${automatedCount} of them as automated mail before the classifier)`);
for (const line of wrong) console.log(`  misclassified: ${line}`);
console.log('\nreplies it would auto-send (the first three, in question order):');
for (const sample of samples) console.log(`\n--- ${sample.id} (first citation on an answer page: ${sample.correct ? 'yes' : 'no'}): ${sample.subject}\n${sample.body}`);

database.close();
await store.close();
await rm(dataDir, { recursive: true, force: true });
