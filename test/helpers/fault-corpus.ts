/**
 * The emails of a fault run: copies of the sample emails (samples/emails/), each with a Message-ID
 * of its own, so every email has a known end — support questions the local model answers from
 * the sample manuals get exactly one reply (sent, or a draft), spam is ignored and automated mail
 * skipped with no reply. They are dropped into the Maildir at a steady pace, as mail arrives.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { emailIdOf } from '../../src/pipeline/messages.js';
import { deliverToMaildir } from '../../src/providers/mailbox/maildir.js';
import { ACME, GLOBEX, SAMPLES } from './pipeline.js';
import type { SeededRandom } from './faults.js';

/** Samples that end without any reply: automated mail is skipped, spam ignored. */
const NO_REPLY_SAMPLES = new Set(['07-newsletter.eml', '08-out-of-office.eml', '09-spam-prize.eml']);

/** One email of a run. */
export interface CorpusEmail {
  /** The sample it copies, e.g. `01-router-reset.eml`, or a name of its own for a poison email. */
  sample: string;
  mailbox: string;
  raw: Buffer;
  /** The flow's idempotency key: `emailIdOf` the mailbox and the Message-ID. */
  emailId: string;
  /** The Message-ID without brackets, from which the reply's Message-ID is derived. */
  mailboxKey: string;
  /** True when the email must end with exactly one reply or draft; false when with none. */
  expectsReply: boolean;
}

interface Sample {
  name: string;
  mailbox: string;
  raw: string;
}

function loadSamples(): Sample[] {
  return [ACME, GLOBEX].flatMap((mailbox) => {
    const folder = path.join(SAMPLES, 'emails', mailbox);
    return readdirSync(folder)
      .filter((name) => name.endsWith('.eml'))
      .sort()
      .map((name) => ({ name, mailbox, raw: readFileSync(path.join(folder, name), 'utf8') }));
  });
}

/**
 * `size` emails, mostly support questions (each sample that gets a reply is three times as likely
 * as one that does not), drawn with `random`. `run` makes every Message-ID unique to this run.
 */
export function buildCorpus(size: number, random: SeededRandom, run: string): CorpusEmail[] {
  const samples = loadSamples();
  const weighted = samples.flatMap((sample) => (NO_REPLY_SAMPLES.has(sample.name) ? [sample] : [sample, sample, sample]));
  return Array.from({ length: size }, (_, index) => {
    const sample = random.pick(weighted);
    let mailboxKey = '';
    const raw = sample.raw.replace(/^Message-ID:\s*<([^>]+)>/im, (_line, id: string) => {
      mailboxKey = `fault.${run}.${index}.${id}`;
      return `Message-ID: <${mailboxKey}>`;
    });
    if (!mailboxKey) throw new Error(`sample ${sample.name} has no Message-ID`);
    return {
      sample: sample.name,
      mailbox: sample.mailbox,
      raw: Buffer.from(raw),
      emailId: emailIdOf(sample.mailbox, mailboxKey),
      mailboxKey,
      expectsReply: !NO_REPLY_SAMPLES.has(sample.name),
    };
  });
}

/**
 * Drops the emails into the Maildir under `root`, `ratePerSecond` of them per second, and calls
 * `onDelivered` with the count after each one (the fault schedules key off it).
 */
export async function deliverAtPace(
  root: string,
  emails: readonly CorpusEmail[],
  ratePerSecond: number,
  onDelivered: (count: number) => void | Promise<void> = () => undefined,
): Promise<void> {
  const started = Date.now();
  for (const [index, email] of emails.entries()) {
    const due = started + (index * 1000) / ratePerSecond;
    if (due > Date.now()) await delay(due - Date.now());
    await deliverToMaildir(root, email.mailbox, email.raw);
    await onDelivered(index + 1);
  }
}
