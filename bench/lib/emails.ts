/**
 * Emails for the pipeline benchmarks: copies of the sample support emails under fresh Message-IDs
 * (so each is a new `email_id`, {@link benchEmailId}), composed questions for other manuals, and delivery into the
 * Maildir either all at once (a backlog) or one by one (a steady load).
 */
import { mkdir, readFile, readdir, rename } from 'node:fs/promises';
import path from 'node:path';
import { deliverToMaildir } from '../../src/providers/mailbox/maildir.js';
import { emailIdOf } from '../../src/pipeline/messages.js';
import { PROJECT_ROOT } from './worker-processes.js';

/** A raw email and the mailbox it is delivered to. */
export interface EmailTemplate {
  agentEmail: string;
  name: string;
  raw: string;
}

/**
 * Sample emails that go the whole way (classified as support, answered from a manual, sent):
 * each passes every queue hop, the LLM classification and reply, retrieval and the send.
 */
export const ANSWERED_SAMPLES = [
  ['support@acme.example', '01-router-reset.eml'],
  ['support@acme.example', '03-urgent-internet-down.eml'],
  ['support@acme.example', '04-refund-request.eml'],
  ['support@acme.example', '05-invoice-download.eml'],
  ['support@globex.example', 'battery.eml'],
] as const;

/** The sample manuals the answered samples are answered from: `[mailbox, file]`. */
export async function sampleManuals(): Promise<Array<{ agentEmail: string; file: string }>> {
  const manuals: Array<{ agentEmail: string; file: string }> = [];
  for (const agentEmail of new Set(ANSWERED_SAMPLES.map(([mailbox]) => mailbox))) {
    const folder = path.join(PROJECT_ROOT, 'samples/manuals', agentEmail);
    for (const name of (await readdir(folder)).filter((file) => file.endsWith('.pdf')).sort()) manuals.push({ agentEmail, file: path.join(folder, name) });
  }
  return manuals;
}

/** The raw files of {@link ANSWERED_SAMPLES}. */
export async function sampleTemplates(): Promise<EmailTemplate[]> {
  return Promise.all(
    ANSWERED_SAMPLES.map(async ([agentEmail, name]) => ({
      agentEmail,
      name,
      raw: await readFile(path.join(PROJECT_ROOT, 'samples/emails', agentEmail, name), 'utf8'),
    })),
  );
}

/** The Message-ID of benchmark email `index` of run `runId`. */
export function benchMessageId(runId: string, index: number): string {
  return `bench-${runId}-${index}@bench.example`;
}

/** The `email_id` the poller gives that email in `agentEmail`'s mailbox (per mailbox since issue 13). */
export function benchEmailId(agentEmail: string, runId: string, index: number): string {
  return emailIdOf(agentEmail, benchMessageId(runId, index));
}

/** Benchmark email `index` of run `runId`: `template` under its own Message-ID. */
export function benchEmail(template: EmailTemplate, runId: string, index: number): OutgoingEmail {
  return {
    agentEmail: template.agentEmail,
    emailId: benchEmailId(template.agentEmail, runId, index),
    raw: withMessageId(template.raw, benchMessageId(runId, index)),
  };
}

/** `raw` with its Message-ID header replaced by `<messageId>`. */
export function withMessageId(raw: string, messageId: string): Buffer {
  if (!/^Message-ID:/im.test(raw)) throw new Error('template has no Message-ID header');
  return Buffer.from(raw.replace(/^Message-ID:.*$/im, `Message-ID: <${messageId}>`));
}

/** A plain-text question from a customer to `agentEmail`. */
export function composeEmail(options: { agentEmail: string; messageId: string; subject: string; body: string }): Buffer {
  return Buffer.from(
    [
      'From: Sam Customer <sam.customer@customer.example>',
      `To: Support <${options.agentEmail}>`,
      `Subject: ${options.subject}`,
      `Date: ${new Date().toUTCString()}`,
      `Message-ID: <${options.messageId}>`,
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=UTF-8',
      '',
      options.body,
      '',
    ].join('\r\n'),
  );
}

/** An email ready for delivery. */
export interface OutgoingEmail {
  agentEmail: string;
  /** What the activity log will know it by. */
  emailId: string;
  raw: Buffer;
}

/**
 * Puts every email in its mailbox's `new/` within a few milliseconds: each is first written
 * completely into a staging Maildir, then all are renamed into place in one burst, so the
 * pipeline, not the writing, sets the pace.
 */
export async function deliverBacklog(maildirRoot: string, stagingRoot: string, emails: OutgoingEmail[]): Promise<void> {
  const staged: Array<{ from: string; to: string }> = [];
  for (const email of emails) {
    const name = await deliverToMaildir(stagingRoot, email.agentEmail, email.raw);
    staged.push({ from: path.join(stagingRoot, email.agentEmail, 'new', name), to: path.join(maildirRoot, email.agentEmail, 'new', name) });
  }
  for (const folder of new Set(staged.map(({ to }) => path.dirname(to)))) await mkdir(folder, { recursive: true });
  for (const { from, to } of staged) await rename(from, to);
}

/** Delivers one email the way a mail server would (the Maildir way: tmp/, then new/). */
export async function deliverOne(maildirRoot: string, email: OutgoingEmail): Promise<void> {
  await deliverToMaildir(maildirRoot, email.agentEmail, email.raw);
}
