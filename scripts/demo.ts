/**
 * `npm run demo`: the whole pipeline on embedded defaults, no keys, no network. Ingests the sample
 * manuals, drops the sample emails into the Maildir, runs every role in this process, waits until
 * each email reaches a final state and prints what became of it.
 *
 * `npm run demo -- --dashboard` then keeps running with the operator dashboard (the `api` role)
 * until Ctrl-C, so the drafts it left can be reviewed and more manuals uploaded in the browser.
 */
import { randomBytes } from 'node:crypto';
import { readFile, readdir, rm } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { config as loadDotenv } from 'dotenv';
import { loadConfig } from '../src/app/config.js';
import { createLogger } from '../src/lib/log.js';
import { ROLE_NAMES } from '../src/app/registry.js';
import { startWorker, type Worker } from '../src/app/worker.js';
import { submitDocument } from '../src/features/documents.js';
import { deliverToMaildir } from '../src/providers/mailbox/maildir.js';
import { parseEmail } from '../src/providers/mailbox/mime.js';
import { ActivityLog, isFinal, type EmailSummary } from '../src/store/activity-log.js';
import { DocumentRegistry } from '../src/store/documents.js';
import { redactUrl } from '../src/messaging/broker.js';
import { ManagementClient } from '../src/messaging/management.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const samples = path.join(root, 'samples');

const { values: options } = parseArgs({ options: { dashboard: { type: 'boolean', default: false } } });
loadDotenv({ quiet: true });
const dataDir = path.resolve(process.env.DEMO_DATA_DIR ?? path.join(root, 'data', 'demo'));
/** Vhost of the demo: made afresh each run, so nothing left in queues or the audit stream by an earlier run leaks in. */
const DEMO_VHOST = 'ragmail-demo';

/**
 * The configured broker URL moved to the demo's own fresh vhost, when the management API lets us
 * make one; `fresh` says whether it did.
 */
async function demoBroker(amqpUrl: string, managementUrl: string): Promise<{ url: string; fresh: boolean }> {
  try {
    const management = new ManagementClient({ RABBITMQ_MANAGEMENT_URL: managementUrl, AMQP_URL: amqpUrl });
    const vhost = encodeURIComponent(DEMO_VHOST);
    await management.request('DELETE', `vhosts/${vhost}`).catch(() => undefined);
    await management.request('PUT', `vhosts/${vhost}`, {});
    const user = decodeURIComponent(new URL(amqpUrl).username) || 'guest';
    await management.request('PUT', `permissions/${vhost}/${encodeURIComponent(user)}`, { configure: '.*', write: '.*', read: '.*' });
    const url = new URL(amqpUrl);
    url.pathname = `/${vhost}`;
    return { url: url.toString(), fresh: true };
  } catch {
    return { url: amqpUrl, fresh: false };
  }
}

// A demo on one machine: the compose broker's example admin (README, "Try it") is fine here.
const base = loadConfig({ ...process.env, RAGMAIL_DEMO: 'true' });
const broker = await demoBroker(base.AMQP_URL, base.RABBITMQ_MANAGEMENT_URL);
// The dashboard's token: yours from API_TOKENS, or one made for this run and printed below.
const demoToken = randomBytes(18).toString('base64url');
const config = loadConfig({
  LOG_LEVEL: 'warn',
  ...process.env,
  // An empty API_TOKENS (as in .env.example) means "none of mine": the demo's own token then.
  API_TOKENS: process.env.API_TOKENS || `demo=${demoToken}`,
  AMQP_URL: broker.url,
  RAGMAIL_DEMO: 'true',
  DATA_DIR: dataDir,
  MAILDIR_ROOT: '',
  DATABASE_PATH: '',
  VECTOR_DB_PATH: '',
  UPLOAD_DIR: '',
  POLL_INTERVAL_MS: '300',
  // A fresh vhost's audit stream holds this run's events only: reading it from the first one means
  // no event is missed while the recorder attaches. On a shared vhost, only new events count.
  AUDIT_STREAM_START: broker.fresh ? 'first' : 'next',
  AMQP_CONNECT_TIMEOUT_MS: process.env.AMQP_CONNECT_TIMEOUT_MS ?? '5000',
});
const logger = createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT, role: 'demo' });
const say = (line = '') => process.stdout.write(`${line}\n`);

async function waitUntil(what: string, done: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await done()) return true;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  say(`  (gave up waiting for ${what} after ${timeoutMs / 1000} s)`);
  return false;
}

async function filesIn(folder: string, extension: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith(extension))
    .map((entry) => path.join(folder, entry.name))
    .sort();
}

/** Folders below `folder` named like a mailbox address. */
async function mailboxFolders(folder: string): Promise<string[]> {
  return (await readdir(folder, { withFileTypes: true }))
    .filter((entry) => entry.isDirectory() && entry.name.includes('@'))
    .map((entry) => entry.name)
    .sort();
}

function shorten(value: string | null | undefined, length: number): string {
  const flat = (value ?? '').replace(/\s+/g, ' ').trim();
  return flat.length > length ? `${flat.slice(0, length - 1)}…` : flat;
}

/** What a reply says, without its greeting: the quoted answer when there is one. */
function replyGist(excerpt: string): string {
  const quoted = excerpt
    .split('\n')
    .filter((line) => line.startsWith('> '))
    .map((line) => line.slice(2));
  return quoted.length ? quoted.join(' ') : excerpt.split('\n').slice(1).join(' ');
}

function printTable(rows: EmailSummary[], subjects: Map<string, string>): void {
  for (const row of rows) {
    const classification = row.category ? `${row.is_support_inquiry ? 'support' : 'not support'} / ${row.category} (${(row.confidence ?? 0).toFixed(2)})` : '—';
    say(`■ ${shorten(subjects.get(row.email_id) ?? row.subject, 70)}`);
    say(`    mailbox:        ${row.agent_email}   from: ${row.from ?? '?'}`);
    say(`    classification: ${classification}`);
    say(`    outcome:        ${row.outcome ?? row.state}`);
    if (row.reply_excerpt) say(`    reply:          ${shorten(replyGist(row.reply_excerpt), 110)}`);
    if (row.citations.length)
      say(`    citations:      ${[...new Set(row.citations.map((citation) => `"${citation.title ?? citation.source}", page ${citation.page}`))].join('; ')}`);
    say();
  }
}

async function main(): Promise<number> {
  say(`ragmail demo — broker ${redactUrl(config.AMQP_URL)}, data in ${path.relative(process.cwd(), dataDir) || '.'}`);
  await rm(dataDir, { recursive: true, force: true });
  let worker: Worker;
  try {
    worker = await startWorker(
      ROLE_NAMES.filter((role) => options.dashboard || role !== 'api'),
      config,
      logger,
    );
  } catch (error) {
    say(`\nCannot start: ${(error as Error).message}`);
    say('\nThe demo needs RabbitMQ on 127.0.0.1:5672 (guest/guest). Start one with either of:');
    say('  docker compose -f docker-compose.rabbitmq.yml up -d rabbitmq');
    say('  sudo apt-get install -y rabbitmq-server && sudo rabbitmq-server -detached');
    say('or point AMQP_URL at yours (see .env.example).');
    if (options.dashboard) say(`With --dashboard the demo also serves the dashboard on ${config.API_HOST}:${config.API_PORT}: free that port or set API_PORT.`);
    return 1;
  }
  try {
    const database = await worker.services.database();
    const activity = new ActivityLog(database);
    const documents = new DocumentRegistry(database);

    say('\n1. Ingesting the sample manuals');
    const documentIds: string[] = [];
    for (const mailbox of await mailboxFolders(path.join(samples, 'manuals'))) {
      for (const file of await filesIn(path.join(samples, 'manuals', mailbox), '.pdf')) {
        const message = await submitDocument(worker.broker, config.UPLOAD_DIR, {
          agentEmail: mailbox,
          filename: path.basename(file),
          data: await readFile(file),
        });
        documentIds.push(message.document_id);
      }
    }
    const documentsDone = async () => {
      for (const id of documentIds) if (!['ingested', 'failed'].includes((await documents.get(id))?.status ?? '')) return false;
      return true;
    };
    await waitUntil('the manuals', documentsDone, 60_000);
    for (const id of documentIds) {
      const document = await documents.get(id);
      say(
        `   ${document?.status === 'ingested' ? '✓' : '✗'} ${document?.agent_email}  ${document?.filename}: ${document?.status}, ${document?.pages_total ?? '?'} pages, ${document?.chunks ?? 0} chunks${document?.error ? ` (${document.error})` : ''}`,
      );
    }

    say('\n2. Delivering the sample emails to the Maildir');
    const emailIds: string[] = [];
    const subjects = new Map<string, string>();
    for (const mailbox of await mailboxFolders(path.join(samples, 'emails'))) {
      for (const file of await filesIn(path.join(samples, 'emails', mailbox), '.eml')) {
        const raw = await readFile(file);
        const name = await deliverToMaildir(config.MAILDIR_ROOT, mailbox, raw);
        const { email } = await parseEmail(raw, { agentEmail: mailbox, mailboxRef: name });
        emailIds.push(email.email_id);
        subjects.set(email.email_id, email.subject);
      }
    }
    say(`   ${emailIds.length} emails in ${path.relative(process.cwd(), config.MAILDIR_ROOT)}/<mailbox>/new`);

    say('\n3. Waiting for every email to reach a final state');
    const started = Date.now();
    const emailsDone = async () => {
      for (const id of emailIds) if (!isFinal((await activity.getEmail(id))?.state ?? '')) return false;
      return true;
    };
    await waitUntil('the emails', emailsDone, 90_000);
    say(`   done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);

    const rows = await Promise.all(
      emailIds.map(async (id) => (await activity.getEmail(id)) ?? ({ email_id: id, state: 'not seen', citations: [] } as unknown as EmailSummary)),
    );
    printTable(rows, subjects);
    const counts = rows.reduce<Record<string, number>>((tally, row) => ({ ...tally, [row.state]: (tally[row.state] ?? 0) + 1 }), {});
    say(
      `Summary: ${Object.entries(counts)
        .map(([state, count]) => `${count} ${state}`)
        .join(', ')}`,
    );
    say(`Replies sent:   ${path.relative(process.cwd(), config.MAILDIR_ROOT)}/<mailbox>/outbox/*.eml`);
    say(`Drafts left:    ${path.relative(process.cwd(), config.MAILDIR_ROOT)}/<mailbox>/drafts/*.eml`);
    if (options.dashboard) await serveDashboard(worker);
    return rows.every((row) => isFinal(row.state)) ? 0 : 1;
  } finally {
    await worker.stop();
  }
}

/** Keeps every role running, with the dashboard, until Ctrl-C or SIGTERM. */
async function serveDashboard(worker: Worker): Promise<void> {
  const url = worker.roles.find((role) => role.name === 'api')?.url ?? `http://127.0.0.1:${config.API_PORT}`;
  const token = config.apiTokens.find((entry) => entry.name === 'demo')?.token;
  const browserUrl = url.replace('://0.0.0.0:', '://127.0.0.1:');
  say(`\nDashboard: ${token ? `${browserUrl}/#token=${token}` : `${browserUrl}  (sign in with a token of API_TOKENS)`}`);
  say('Review the drafts under "Review queue", upload manuals under "Manuals". Ctrl-C stops the demo.');
  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}

process.exitCode = await main();
