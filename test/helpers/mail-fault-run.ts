/**
 * A fault case over real mail servers (issue 13): every role a worker process of its own with
 * MAILBOX_PROVIDER=imap, on a private Dovecot (reached through an {@link startImapAppendTap} tap) and
 * Postfix, on a fresh vhost of the shared RabbitMQ. The run's emails are appended to INBOX at a
 * steady pace (over IMAP, so an SMTP outage does not stop mail arriving) while the case's faults
 * run; once every email has ended, the books are read from the mail servers themselves: what
 * Postfix delivered to the customers, the Sent and Drafts folders, and the activity log.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import assert from 'node:assert/strict';
import { ImapFlow } from 'imapflow';
import type { Config } from '../../src/app/config.js';
import { createLogger } from '../../src/lib/log.js';
import { Broker } from '../../src/messaging/broker.js';
import { listDeadLetters } from '../../src/messaging/dead-letters.js';
import { replyMessageId } from '../../src/providers/mailbox/mime.js';
import { DELIVERY_UNCERTAIN_REASON } from '../../src/roles/sender.js';
import { ActivityLog, isFinal } from '../../src/store/activity-log.js';
import { openDatabase, type SqlDatabase } from '../../src/store/database.js';
import { DocumentRegistry } from '../../src/store/documents.js';
import { createTestVhost, waitFor } from './broker.js';
import { buildCorpus, type CorpusEmail } from './fault-corpus.js';
import { waitForConsumers, type ScheduledFault } from './fault-run.js';
import { FAULT_WORKER_ENVIRONMENT, caseSeed, seconds, type SeededRandom } from './faults.js';
import { startImapAppendTap, startSmtpDataTap, type HoldingTap } from './holding-tap.js';
import { ACME, uploadSampleManuals } from './pipeline.js';
import { startPrivateMailServers, type MailUser, type PrivateMailServers } from './private-mail-servers.js';
import { WorkerFleet, type FleetRole } from './worker-fleet.js';
import { everyOf } from './async-lists.js';

const SUPPORT: MailUser = { address: ACME, password: 'acme-fault-secret' };
const ROLES: FleetRole[] = ['recorder', 'ingester', 'poller', 'classifier', 'responder', 'sender'];
/** Emails appended to INBOX per second. */
const DELIVERY_RATE_PER_SECOND = 5;

/** One email's end, as the mail servers and the activity log tell it. */
export interface MailAccount {
  email: CorpusEmail;
  state: string;
  /** Copies of its reply Postfix delivered to the customer. */
  delivered: number;
  /** Copies of its reply in Sent and in Drafts. */
  sentCopies: number;
  drafts: number;
  /** `sent` events in the activity log. */
  sentEvents: number;
  /** Handed to review because its sender stopped inside the SMTP transaction (the reply may have left). */
  uncertain: boolean;
  problems: string[];
}

export interface MailFaultReport {
  accounts: MailAccount[];
  /** Accounts with a problem: lost, sent twice, sent without its Sent copy, dead-lettered … */
  wrong: MailAccount[];
  deadLetters: number;
  /** Accounts handed to review as uncertain, and how many of them the customer did get. */
  uncertain: { count: number; delivered: number };
  summary: string;
}

export interface MailFaultRun {
  servers: PrivateMailServers;
  tap: HoldingTap;
  /** In front of Postfix when the case asks for it (`smtpTap`): one that accepts but cannot reach a stopped Postfix would turn its outage into lost connections. */
  smtpTap: HoldingTap | undefined;
  fleet: WorkerFleet;
  config: Config;
  database: SqlDatabase;
  random: SeededRandom;
  emails: CorpusEmail[];
  /** Delivers `emails` while `faults` run (one after the other), waits until all ended, and makes the books. */
  flow(options?: { faults?: ScheduledFault[]; describe?: () => string }): Promise<MailFaultReport>;
}

/** Appends each email to the user's INBOX over one IMAP connection, at a steady pace. */
async function deliverAtPace(servers: PrivateMailServers, emails: readonly CorpusEmail[], onDelivered: (count: number) => Promise<void>): Promise<void> {
  const client = new ImapFlow({
    host: servers.host,
    port: servers.imapPort,
    secure: false,
    doSTARTTLS: false,
    auth: { user: SUPPORT.address, pass: SUPPORT.password },
    logger: false,
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    const started = Date.now();
    for (const [index, email] of emails.entries()) {
      const due = started + (index * 1000) / DELIVERY_RATE_PER_SECOND;
      if (due > Date.now()) await delay(due - Date.now());
      await client.append('INBOX', email.raw);
      await onDelivered(index + 1);
    }
  } finally {
    await client.logout().catch(() => client.close());
  }
}

/** Counts of the messages holding `needle`, by raw text. */
function holding(raws: readonly string[], needle: string): number {
  return raws.filter((raw) => raw.includes(needle)).length;
}

async function makeBooks(run: MailFaultRun, activity: ActivityLog, describe: string): Promise<MailFaultReport> {
  const { servers } = run;
  // Postfix delivers after SMTP's answer: the books wait until the customers' mail stops growing.
  let before = -1;
  while (servers.outside().length !== before) {
    before = servers.outside().length;
    await delay(2_000);
  }
  const outside = servers.outside();
  const sent = (await servers.folder(SUPPORT, 'Sent')).map((stored) => stored.raw);
  const drafts = (await servers.folder(SUPPORT, 'Drafts')).map((stored) => stored.raw);
  const deadLetters = (await listDeadLetters({ config: run.config })).length;
  const accounts: MailAccount[] = [];
  for (const email of run.emails) {
    const replyId = replyMessageId(email.mailboxKey, ACME);
    const timeline = await activity.timeline(email.emailId);
    const account: MailAccount = {
      email,
      state: (await activity.getEmail(email.emailId))?.state ?? 'unseen',
      delivered: holding(outside, replyId),
      sentCopies: holding(sent, replyId),
      drafts: holding(drafts, replyId),
      sentEvents: timeline.filter((event) => event.stage === 'sent').length,
      uncertain: timeline.some((event) => event.stage === 'handed_off' && event.detail.reason === DELIVERY_UNCERTAIN_REASON),
      problems: [],
    };
    const problem = (text: string) => account.problems.push(text);
    if (!isFinal(account.state)) problem(`lost (state ${account.state})`);
    if (account.state === 'dead_lettered') problem('dead-lettered');
    if (account.delivered > 1) problem(`sent ${account.delivered} times`);
    if (account.sentEvents > 1) problem(`${account.sentEvents} sent events`);
    if (account.state === 'sent') {
      if (account.delivered !== 1) problem(`state sent, but ${account.delivered} delivered`);
      if (account.sentCopies !== 1) problem(`state sent, but ${account.sentCopies} Sent copies`);
    } else if (account.uncertain && account.state === 'handed_off') {
      // At most once: the reply may have left before its sender died, which the reviewer checks; it never left twice.
      if (account.sentCopies !== 0) problem(`uncertain, but ${account.sentCopies} Sent copies`);
    } else if (account.delivered > 0 || account.sentCopies > 0) problem(`state ${account.state}, but a reply went out`);
    if (['drafted', 'handed_off'].includes(account.state) && account.drafts !== 1) problem(`state ${account.state}, but ${account.drafts} drafts`);
    if (email.expectsReply && !['sent', 'drafted', 'handed_off'].includes(account.state)) problem(`no reply (state ${account.state})`);
    if (!email.expectsReply && ['sent', 'drafted', 'handed_off'].includes(account.state)) problem(`a reply where none is due (${account.state})`);
    accounts.push(account);
  }
  const count = (state: string) => accounts.filter((account) => account.state === state).length;
  const wrong = accounts.filter((account) => account.problems.length > 0);
  const uncertainAccounts = accounts.filter((account) => account.uncertain);
  const uncertain = { count: uncertainAccounts.length, delivered: uncertainAccounts.filter((account) => account.delivered > 0).length };
  const summary =
    `${accounts.length} emails: sent ${count('sent')}, drafted ${count('drafted')}, handed off ${count('handed_off')}, ` +
    `ignored ${count('ignored')}, skipped ${count('skipped')}, dead-lettered ${deadLetters}; ` +
    `delivered to customers ${outside.length}, Sent copies ${sent.length}; ` +
    `in review as delivery uncertain ${uncertain.count} (of them delivered ${uncertain.delivered}); wrong ${wrong.length} | ${describe}`;
  return { accounts, wrong, deadLetters, uncertain, summary };
}

/** Fails with every wrong account named: 0 lost, 0 sent twice, every sent reply filed once, no dead letter. */
export function assertMailAccounted(report: MailFaultReport): void {
  assert.deepEqual(
    report.wrong.map((account) => `${account.email.sample} ${account.email.emailId}: ${account.problems.join('; ')}`),
    [],
    report.summary,
  );
  assert.equal(report.deadLetters, 0, `no dead letters: ${report.summary}`);
}

/** Runs `body` on a fresh case of `size` emails and always tears it down (workers, servers, vhost). */
export async function withMailFaultRun(options: { name: string; size: number; smtpTap?: boolean }, body: (run: MailFaultRun) => Promise<void>): Promise<void> {
  const random = caseSeed(options.name);
  const servers = await startPrivateMailServers([SUPPORT]);
  const tap = await startImapAppendTap(servers.imapPort, 'Sent');
  const smtpTap = options.smtpTap ? await startSmtpDataTap(servers.smtpPort) : undefined;
  const environment: Record<string, string> = {
    ...FAULT_WORKER_ENVIRONMENT,
    // A mail server out is ridden out by the outage breaker, not by the retries (MAX_ATTEMPTS 3:
    // 0.2 + 0.4 s of waits); its probes come at most 2 s apart, so a case ends soon after the server is back.
    OUTAGE_MAX_PAUSE_MS: '2000',
    MAILBOX_PROVIDER: 'imap',
    IMAP_HOST: servers.host,
    IMAP_PORT: String(tap.port),
    IMAP_TLS: 'none',
    IMAP_USER: SUPPORT.address,
    IMAP_PASSWORD: SUPPORT.password,
    SMTP_PORT: String(smtpTap?.port ?? servers.smtpPort),
    SMTP_TLS: 'none',
  };
  let vhost: Awaited<ReturnType<typeof createTestVhost>> | undefined;
  let fleet: WorkerFleet | undefined;
  let broker: Broker | undefined;
  let database: SqlDatabase | undefined;
  try {
    vhost = await createTestVhost({ ...environment, LOG_LEVEL: 'error' });
    const { config } = vhost;
    database = await openDatabase(config.DATABASE_PATH);
    fleet = new WorkerFleet({ ...environment, AMQP_URL: config.AMQP_URL, RABBITMQ_MANAGEMENT_URL: config.RABBITMQ_MANAGEMENT_URL, DATA_DIR: vhost.dataDir });
    broker = new Broker(config, createLogger({ level: 'error', format: 'json', role: `faults-${options.name}` }));
    await broker.start();
    for (const role of ROLES) fleet.start(role);
    const activity = new ActivityLog(database);
    const tag = randomUUID().slice(0, 8);
    const emails = buildCorpus(options.size * 3, random, tag)
      .filter((email) => email.mailbox === ACME)
      .slice(0, options.size);
    const run: MailFaultRun = {
      servers,
      tap,
      smtpTap,
      fleet,
      config,
      database,
      random,
      emails,
      flow: async ({ faults = [], describe } = {}) => {
        const due = [...faults].sort((left, right) => left.afterDelivered - right.afterDelivered);
        let lane = Promise.resolve();
        const started = Date.now();
        await deliverAtPace(servers, emails, async (count) => {
          while (due.length > 0 && due[0]!.afterDelivered <= count) {
            const fault = due.shift()!;
            lane = lane.then(() => fault.run(count));
          }
        });
        await lane;
        await waitFor(async () => everyOf(emails, async (email) => isFinal((await activity.getEmail(email.emailId))?.state ?? '')), {
          timeoutMs: 120_000,
          intervalMs: 200,
          what: 'every email ended',
          // Given up on: the books name what did not end.
        }).catch(() => undefined);
        const report = await makeBooks(run, activity, [`ended ${seconds(started)} after the first delivery`, describe?.()].filter(Boolean).join(' | '));
        process.stdout.write(`faults ${options.name}: ${report.summary}\n`);
        return report;
      },
    };
    await Promise.race([waitForConsumers(config, ROLES, fleet), fleet.died]);
    await Promise.race([
      uploadSampleManuals({ broker, uploadDir: config.UPLOAD_DIR, documents: new DocumentRegistry(database) }, 90_000, 'the sample manuals ingested'),
      fleet.died,
    ]);
    try {
      await body(run);
    } catch (error) {
      process.stdout.write(`faults ${options.name}: worker output\n${fleet.describe()}\n--- mail servers\n${servers.logs().slice(-4000)}\n`);
      throw error;
    }
  } finally {
    await fleet?.stopAll();
    await broker?.close();
    await database?.close();
    await vhost?.cleanup();
    await tap.close();
    await smtpTap?.close();
    await servers.stop();
  }
}
