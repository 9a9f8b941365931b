/**
 * Integration-test support for the pipeline: a test vhost with roles running in this process
 * (`startWorker`), the sample manuals and emails, hand-made queue messages, reply files read back
 * with postal-mime, and a raw AMQP channel to look into queues the running roles do not consume.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import amqplib, { type Channel, type ChannelModel } from 'amqplib';
import PostalMime, { type Email as ParsedEmail } from 'postal-mime';
import { createTestVhost, waitFor, type TestVhost } from './broker.js';
import { PROJECT_ROOT } from './worker-process.js';
import { startWorker, type Worker } from '../../src/app/worker.js';
import type { Broker } from '../../src/messaging/broker.js';
import type { RoleName } from '../../src/app/registry.js';
import type { SettledInfo } from '../../src/messaging/consumer.js';
import type { Email, ToClassifyMessage, ToRespondMessage, ToSendMessage } from '../../src/pipeline/messages.js';
import { deliverToMaildir } from '../../src/providers/mailbox/maildir.js';
import { parseEmail, replySubject } from '../../src/providers/mailbox/mime.js';
import { submitDocument, type DocumentUpload } from '../../src/features/documents.js';
import type { SqlDatabase } from '../../src/store/sql.js';
import { ActivityLog, isFinal, type EmailSummary } from '../../src/store/activity-log.js';
import { DocumentRegistry } from '../../src/store/documents.js';
import { tokenFileOf } from '../../src/http/api/tokens.js';
import { loadConfig } from '../../src/app/config.js';
import { replySettingsOf } from '../../src/features/send-policy.js';
import { handoffBody } from '../../src/providers/llm/reply-framing.js';

export const SAMPLES = path.join(PROJECT_ROOT, 'samples');
export const ACME = 'support@acme.example';
export const GLOBEX = 'support@globex.example';

/**
 * The hand-off reply the responder writes to `email` with the default signature: it greets the
 * sender by the name in their From header, as the responder does.
 */
export function handoffBodyFor(email: Pick<Email, 'from' | 'from_name'>): string {
  const from = email.from_name ? `"${email.from_name}" <${email.from}>` : email.from;
  return handoffBody({ from, subject: '', body: '' }, undefined, replySettingsOf(loadConfig({}), 'support@example.com').signature);
}

/** Roles running in this process on a vhost of their own, plus what a test reads back. */
export interface Pipeline {
  vhost: TestVhost;
  worker: Worker;
  /** The worker's stores' database. */
  database: SqlDatabase;
  activity: ActivityLog;
  documents: DocumentRegistry;
  /** Every message each consumer role settled so far, in order (for statuses such as `duplicate`). */
  settled: Map<RoleName, SettledInfo[]>;
  /** With the `api` role: `http://127.0.0.1:<port>` of the operator API and dashboard. */
  apiUrl?: string;
  /** With the `api` role: a bearer token it accepts (the first of API_TOKENS, or the generated one). */
  apiToken?: string;
  /** Stops the roles, then deletes the vhost and the data folder. */
  close(): Promise<void>;
}

/**
 * Starts `roles` in this process on a fresh vhost; `overrides` are environment variables. With the
 * `api` role the server listens on a free port of 127.0.0.1 and accepts a random token for
 * `tester`, unless the overrides say otherwise (`API_TOKENS: ''` tests the generated token).
 */
export async function startPipeline(roles: readonly RoleName[], overrides: Record<string, string> = {}): Promise<Pipeline> {
  const apiDefaults: Record<string, string> = roles.includes('api')
    ? { API_PORT: '0', API_HOST: '127.0.0.1', API_TOKENS: `tester=${randomBytes(18).toString('base64url')}` }
    : {};
  const vhost = await createTestVhost({ ...apiDefaults, ...overrides });
  let worker: Worker;
  try {
    worker = await startWorker([...roles], vhost.config, vhost.logger);
  } catch (error) {
    await vhost.cleanup();
    throw error;
  }
  const settled = new Map<RoleName, SettledInfo[]>();
  for (const role of worker.roles) {
    const list: SettledInfo[] = [];
    settled.set(role.name, list);
    role.runtime?.on('settled', (info: SettledInfo) => list.push(info));
  }
  const api = worker.roles.find((role) => role.name === 'api');
  const apiToken = api && (vhost.config.apiTokens[0]?.token ?? (await readFile(tokenFileOf(vhost.config), 'utf8')).trim());
  const database = await worker.services.database();
  return {
    vhost,
    worker,
    database,
    activity: new ActivityLog(database),
    documents: new DocumentRegistry(database),
    settled,
    apiUrl: api?.url && `http://127.0.0.1:${new URL(api.url).port}`,
    apiToken,
    close: async () => {
      try {
        await worker.stop();
      } finally {
        await vhost.cleanup();
      }
    },
  };
}

/** Waits until `role` has settled at least `count` messages and returns them. */
export async function waitForSettled(pipeline: Pipeline, role: RoleName, count: number, timeoutMs = 30_000): Promise<SettledInfo[]> {
  const settled = await waitFor<SettledInfo[] | undefined>(
    () => {
      const list = pipeline.settled.get(role) ?? [];
      return list.length >= count ? [...list] : undefined;
    },
    { timeoutMs, what: `${count} messages settled by ${role} (so far ${pipeline.settled.get(role)?.length ?? 0})` },
  );
  return settled ?? [];
}

/** Files of `folder` ending with `extension`, full paths, sorted; none when the folder is missing. */
export async function filesIn(folder: string, extension = ''): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith(extension))
    .map((entry) => path.join(folder, entry.name))
    .sort();
}

/** Uploads a document and waits until the registry says it is ingested (or failed). */
export async function submitAndWait(pipeline: Pipeline, upload: DocumentUpload, timeoutMs = 60_000): Promise<string> {
  const message = await submitDocument(pipeline.worker.broker, pipeline.vhost.config.UPLOAD_DIR, upload);
  await waitFor(async () => ['ingested', 'failed'].includes((await pipeline.documents.get(message.document_id))?.status ?? ''), {
    timeoutMs,
    what: `document ${upload.filename} ingested`,
  });
  return message.document_id;
}

/** Where sample manuals are uploaded and their ingestion watched. */
export interface ManualTarget {
  broker: Broker;
  uploadDir: string;
  documents: DocumentRegistry;
}

/**
 * Uploads every sample manual (`samples/manuals/<mailbox>/*.pdf`) and waits until all are
 * ingested. @returns document ids by file name.
 */
export async function uploadSampleManuals(target: ManualTarget, timeoutMs = 90_000, what = 'the sample manuals ingested'): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const mailbox of [ACME, GLOBEX]) {
    for (const file of await filesIn(path.join(SAMPLES, 'manuals', mailbox), '.pdf')) {
      const message = await submitDocument(target.broker, target.uploadDir, { agentEmail: mailbox, filename: path.basename(file), data: await readFile(file) });
      ids.set(path.basename(file), message.document_id);
    }
  }
  // An empty list would pass the wait below: the samples must be where they are expected.
  assert.ok(ids.size > 0, `no sample manuals found in ${path.join(SAMPLES, 'manuals')}`);
  await waitFor(async () => (await Promise.all([...ids.values()].map((id) => target.documents.get(id)))).every((document) => document?.status === 'ingested'), {
    timeoutMs,
    intervalMs: 100,
    what,
  });
  return ids;
}

/** {@link uploadSampleManuals} into a pipeline. */
export function ingestSampleManuals(pipeline: Pipeline, timeoutMs = 90_000): Promise<Map<string, string>> {
  return uploadSampleManuals({ broker: pipeline.worker.broker, uploadDir: pipeline.vhost.config.UPLOAD_DIR, documents: pipeline.documents }, timeoutMs);
}

/** An email dropped into the Maildir, as the poller will read it. */
export interface DeliveredEmail {
  /** Sample file name, or `''` for a raw message. */
  name: string;
  raw: Buffer;
  email: Email;
  automated: string | null;
}

/** Drops a raw message into `<maildir>/<agentEmail>/new` and returns it parsed the poller's way. */
export async function deliverEmail(pipeline: Pipeline, agentEmail: string, raw: Buffer | string, name = ''): Promise<DeliveredEmail> {
  const data = Buffer.isBuffer(raw) ? raw : Buffer.from(raw);
  const mailboxRef = await deliverToMaildir(pipeline.vhost.config.MAILDIR_ROOT, agentEmail, data);
  const { email, automated } = await parseEmail(data, { agentEmail, mailboxRef });
  return { name, raw: data, email, automated };
}

/** Delivers every sample email (`samples/emails/<mailbox>/*.eml`), keyed by file name. */
export async function deliverSampleEmails(pipeline: Pipeline): Promise<Map<string, DeliveredEmail>> {
  const delivered = new Map<string, DeliveredEmail>();
  for (const mailbox of [ACME, GLOBEX]) {
    for (const file of await filesIn(path.join(SAMPLES, 'emails', mailbox), '.eml')) {
      delivered.set(path.basename(file), await deliverEmail(pipeline, mailbox, await readFile(file), path.basename(file)));
    }
  }
  return delivered;
}

/** Waits until every email id reached a final state in the activity log; returns their summaries. */
export async function waitForFinalStates(pipeline: Pipeline, emailIds: string[], timeoutMs = 90_000): Promise<Map<string, EmailSummary>> {
  const summaries = () => Promise.all(emailIds.map((id) => pipeline.activity.getEmail(id)));
  try {
    await waitFor(async () => (await summaries()).every((summary) => isFinal(summary?.state ?? '')), { timeoutMs, intervalMs: 100, what: 'final states' });
  } catch (error) {
    // The states at the moment of giving up say which stage got stuck.
    const states = (await summaries()).map((summary, index) => `${emailIds[index]}=${summary?.state ?? 'unseen'}`).join(', ');
    throw new Error(`${(error as Error).message} (now: ${states})`);
  }
  const final = await summaries();
  return new Map(emailIds.map((id, index) => [id, final[index]!]));
}

/** A reply or draft file read back from the Maildir. */
export interface ReplyFile {
  folder: 'outbox' | 'drafts';
  file: string;
  parsed: ParsedEmail;
  /** Header values by lower-case name (first occurrence). */
  headers: Record<string, string>;
}

/** Every `.eml` in the outbox and drafts of a mailbox, parsed with postal-mime. */
export async function readReplies(pipeline: Pipeline, agentEmail: string): Promise<ReplyFile[]> {
  const replies: ReplyFile[] = [];
  for (const folder of ['outbox', 'drafts'] as const) {
    for (const file of await filesIn(path.join(pipeline.vhost.config.MAILDIR_ROOT, agentEmail, folder), '.eml')) {
      const parsed = await PostalMime.parse(await readFile(file));
      const headers: Record<string, string> = {};
      for (const header of parsed.headers) if (!(header.key in headers)) headers[header.key] = header.value;
      replies.push({ folder, file, parsed, headers });
    }
  }
  return replies;
}

/** Lower-case recipient addresses of a parsed message (To, Cc, Bcc). */
export function recipientsOf(parsed: ParsedEmail): string[] {
  return [parsed.to, parsed.cc, parsed.bcc]
    .flatMap((list) => list ?? [])
    .flatMap((entry) => (entry.group ? entry.group : [entry]))
    .map((mailbox) => mailbox.address.toLowerCase());
}

/** A raw AMQP connection to the test vhost, for queues no running role consumes. */
export interface RawChannel {
  channel: Channel;
  close(): Promise<void>;
}

export async function openChannel(pipeline: Pipeline): Promise<RawChannel> {
  const connection: ChannelModel = await amqplib.connect(pipeline.vhost.config.AMQP_URL);
  const channel = await connection.createChannel();
  return {
    channel,
    close: async () => {
      await connection.close().catch(() => undefined);
    },
  };
}

/** Waits for one message in `queue` and returns its parsed body and priority (acked). */
export async function getMessage<T>(channel: Channel, queue: string, timeoutMs = 20_000): Promise<{ body: T; priority: number | undefined }> {
  const message = await waitFor(async () => (await channel.get(queue, { noAck: true })) || null, { timeoutMs, what: `a message in ${queue}` });
  if (!message) throw new Error(`no message in ${queue}`);
  return { body: JSON.parse(message.content.toString('utf8')) as T, priority: message.properties.priority };
}

/** A valid `emails.to_classify` message around a parsed test email. */
export async function classifyMessage(agentEmail: string, raw: string): Promise<ToClassifyMessage> {
  const { email } = await parseEmail(raw, { agentEmail, mailboxRef: `test-${randomUUID()}` });
  return { message_id: randomUUID(), timestamp: new Date().toISOString(), original_message_id: null, email };
}

/** A valid `emails.to_respond` message: the email classified as support with `confidence`. */
export async function respondMessage(agentEmail: string, raw: string, confidence = 0.95): Promise<ToRespondMessage> {
  return {
    ...(await classifyMessage(agentEmail, raw)),
    classification: { is_support_inquiry: true, category: 'technical', confidence, reasoning: 'test', provider: 'test', model: 'test' },
  };
}

/** A valid `emails.to_send` message with a grounded reply; thresholds of the send policy via the arguments. */
export async function sendMessage(
  agentEmail: string,
  raw: string,
  options: { confidence?: number; topScore?: number; handoff?: boolean } = {},
): Promise<ToSendMessage> {
  const respond = await respondMessage(agentEmail, raw, options.confidence ?? 0.95);
  const topScore = options.topScore ?? 0.9;
  return {
    ...respond,
    generated_response: {
      subject: replySubject(respond.email.subject),
      body: 'Hold the reset button for 10 seconds ("manual.pdf", page 3).',
      handoff: options.handoff ?? false,
      provider: 'test',
      model: 'test',
      top_score: topScore,
    },
    context_used: options.handoff
      ? []
      : [{ document_id: 'doc-1', source: 'manual.pdf', page: 3, chunk_index: 0, similarity_score: topScore, text: 'Hold the reset button for 10 seconds.' }],
  };
}

/** Runs `body` on a pipeline of `roles` started with `overrides`, and always closes it. */
export async function withPipeline(roles: readonly RoleName[], overrides: Record<string, string>, body: (pipeline: Pipeline) => Promise<void>): Promise<void> {
  const pipeline = await startPipeline(roles, overrides);
  try {
    await body(pipeline);
  } finally {
    await pipeline.close();
  }
}
