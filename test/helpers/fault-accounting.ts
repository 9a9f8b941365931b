/**
 * The books of a fault run: every email sent in must end accounted for — replied exactly once
 * (one write of its reply into `outbox/` or `drafts/`, and the activity log saying so), ended
 * without a reply where none is due (ignored, skipped), or in the dead-letter queue (or the
 * mailbox's `rejected/` folder) with a reason. Anything else is lost; a second write of a reply, or
 * a second `sent` in the log, is a reply sent twice.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import assert from 'node:assert/strict';
import type { SqlDatabase } from '../../src/store/sql.js';
import type { DeadLetterEntry } from '../../src/messaging/dead-letters.js';
import { replyFileName } from '../../src/providers/mailbox/maildir.js';
import { replyMessageId } from '../../src/providers/mailbox/mime.js';
import { ActivityLog } from '../../src/store/activity-log.js';
import type { CorpusEmail } from './fault-corpus.js';
import type { ReplyWatch } from './reply-watch.js';

/** How an email ended. */
export type EmailEnd = 'sent' | 'drafted' | 'handed_off' | 'ignored' | 'skipped' | 'dead_lettered' | 'rejected' | 'lost';

const REPLY_STAGES = ['sent', 'drafted', 'handed_off'];

/** What the run's evidence says about one email. */
export interface EmailAccount {
  email: CorpusEmail;
  end: EmailEnd;
  /** The activity log's state, `unseen` when it has no row for the email. */
  logState: string;
  /** Writes of its reply seen in outbox/ and drafts/ (see ReplyWatch: at least this many). */
  writes: number;
  /** `sent`, `drafted` and `handed_off` events in the activity log. */
  replyEvents: number;
  /** Why it is dead-lettered or rejected. */
  reasons: string[];
  /** What is wrong with it, if anything. */
  problems: string[];
}

/** Whether the run had gone quiet when its evidence was read. */
export interface Settlement {
  /** True once every email ended and nothing moved (queues, reply files, activity log) for a while. */
  quiet: boolean;
  /** How long the wait took, or what was still moving when it gave up. */
  detail: string;
}

export interface FaultReport {
  /** Books made of a run still moving prove nothing: {@link assertAccounted} fails on them first. */
  settlement: Settlement;
  accounts: EmailAccount[];
  counts: Record<EmailEnd, number>;
  /** Emails with no accounted end. */
  lost: EmailAccount[];
  /** Emails whose reply was written or logged more than once. */
  duplicated: EmailAccount[];
  /** Emails replied once whose reply the activity log does not show. */
  unlogged: EmailAccount[];
  /** Emails that ended, but not as they must (a reply where none is due, none where one is). */
  wrong: EmailAccount[];
  /** Samples whose copies ended differently although the run changed nothing about them. */
  inconsistentSamples: string[];
  /** Reply files that answer no email of the run, and watch problems. */
  strays: string[];
}

/** Message-ID → reason of every message the Maildir set aside in `rejected/`. */
export function rejectedReasons(root: string, mailboxes: readonly string[]): Map<string, string> {
  const reasons = new Map<string, string>();
  for (const mailbox of mailboxes) {
    const folder = path.join(root, mailbox, 'rejected');
    if (!existsSync(folder)) continue;
    for (const name of readdirSync(folder).filter((file) => !file.endsWith('.reason.txt'))) {
      const id = /^Message-ID:\s*<([^>]+)>/im.exec(readFileSync(path.join(folder, name), 'latin1'))?.[1];
      const reasonFile = path.join(folder, `${name}.reason.txt`);
      if (id) reasons.set(id, existsSync(reasonFile) ? readFileSync(reasonFile, 'utf8').trim() : '');
    }
  }
  return reasons;
}

/** Accounts for every email of the run from the reply files and their writes, the activity log, the dead letters and `rejected/`. */
export async function accountFor(
  emails: readonly CorpusEmail[],
  sources: { database: SqlDatabase; maildirRoot: string; watch: ReplyWatch; deadLetters: readonly DeadLetterEntry[]; settlement: Settlement },
): Promise<FaultReport> {
  const activity = new ActivityLog(sources.database);
  const mailboxes = [...new Set(emails.map((email) => email.mailbox))];
  const rejected = rejectedReasons(sources.maildirRoot, mailboxes);
  const known = new Set<string>();
  const accounts: EmailAccount[] = [];
  for (const email of emails) {
    const file = replyFileName(replyMessageId(email.mailboxKey, email.mailbox));
    const inOutbox = existsSync(path.join(sources.maildirRoot, email.mailbox, 'outbox', file));
    const inDrafts = existsSync(path.join(sources.maildirRoot, email.mailbox, 'drafts', file));
    known.add(`${email.mailbox}/outbox/${file}`).add(`${email.mailbox}/drafts/${file}`);
    const writes = sources.watch.writesOf(email.mailbox, 'outbox', file) + sources.watch.writesOf(email.mailbox, 'drafts', file);
    const logState = (await activity.getEmail(email.emailId))?.state ?? 'unseen';
    const replyEvents = (await activity.timeline(email.emailId)).filter((event) => REPLY_STAGES.includes(event.stage)).length;
    const deadLetters = sources.deadLetters.filter((entry) => entry.emailId === email.emailId);
    const reasons = [
      ...deadLetters.map((entry) => `${entry.errorType}: ${entry.reason}`),
      ...(rejected.has(email.emailId) ? [`rejected: ${rejected.get(email.emailId)}`] : []),
    ];
    const problems: string[] = [];
    let end: EmailEnd;
    if (inOutbox || inDrafts) {
      end = inOutbox ? 'sent' : logState === 'handed_off' ? 'handed_off' : 'drafted';
      if (inOutbox && inDrafts) problems.push('duplicated: a reply in outbox/ and a draft in drafts/');
      if (!(inOutbox ? ['sent'] : ['drafted', 'handed_off']).includes(logState))
        problems.push(`unlogged: its ${inOutbox ? 'reply is in outbox/' : 'draft is in drafts/'} but the activity log says ${logState}`);
      if (!email.expectsReply) problems.push(`wrong: answered, but ${email.sample} must get no reply`);
      if (reasons.length > 0) problems.push(`wrong: answered and dead-lettered too (${reasons.join('; ')})`);
    } else if (reasons.length > 0) {
      end = deadLetters.length > 0 ? 'dead_lettered' : 'rejected';
      if (reasons.some((reason) => !/:\s*\S/.test(reason))) problems.push(`lost: dead-lettered or rejected without a reason (${reasons.join('; ')})`);
    } else if (logState === 'ignored' || logState === 'skipped') {
      end = logState;
      if (email.expectsReply) problems.push(`wrong: ${logState}, but ${email.sample} must get one reply`);
    } else {
      end = 'lost';
      problems.push(`lost: no reply, no dead letter, and the activity log says ${logState}`);
    }
    if (writes > 1) problems.push(`duplicated: its reply was written ${writes} times`);
    if (replyEvents > 1) problems.push(`duplicated: ${replyEvents} sent/drafted/handed_off events in the activity log`);
    accounts.push({ email, end, logState, writes, replyEvents, reasons, problems });
  }
  const counts = Object.fromEntries(
    ['sent', 'drafted', 'handed_off', 'ignored', 'skipped', 'dead_lettered', 'rejected', 'lost'].map((end) => [end, 0]),
  ) as Record<EmailEnd, number>;
  for (const account of accounts) counts[account.end] += 1;
  const having = (kind: string) => accounts.filter((account) => account.problems.some((problem) => problem.startsWith(`${kind}:`)));
  const endsBySample = new Map<string, Set<EmailEnd>>();
  for (const account of accounts.filter((entry) => !['dead_lettered', 'rejected', 'lost'].includes(entry.end))) {
    endsBySample.set(account.email.sample, (endsBySample.get(account.email.sample) ?? new Set()).add(account.end));
  }
  return {
    settlement: sources.settlement,
    accounts,
    counts,
    lost: having('lost'),
    duplicated: having('duplicated'),
    unlogged: having('unlogged'),
    wrong: having('wrong'),
    inconsistentSamples: [...endsBySample].filter(([, ends]) => ends.size > 1).map(([sample, ends]) => `${sample}: ${[...ends].join(' / ')}`),
    strays: [
      ...sources.watch
        .seen()
        .filter((key) => !known.has(key))
        .map((key) => `a reply that answers no email of the run: ${key}`),
      ...sources.watch.errors(),
    ],
  };
}

/** One line per case: how the emails ended, and the four numbers that must be 0. */
export function summaryLine(caseName: string, report: FaultReport, extra = ''): string {
  const { counts } = report;
  return (
    `faults ${caseName}: ${report.settlement.quiet ? '' : 'NEVER QUIET, '}${report.accounts.length} emails — ${counts.sent} sent, ${counts.drafted} drafted, ${counts.handed_off} handed off, ` +
    `${counts.ignored} ignored, ${counts.skipped} skipped, ${counts.dead_lettered} dead-lettered, ${counts.rejected} rejected | ` +
    `lost ${report.lost.length}, sent twice ${report.duplicated.length}, reply missing from the log ${report.unlogged.length}, wrong end ${report.wrong.length}${extra ? ` | ${extra}` : ''}`
  );
}

/** Options of {@link assertAccounted}. */
export interface AccountingExpectations {
  /** Which emails may end dead-lettered (the fault explains it); default none. */
  mayDeadLetter?: (account: EmailAccount) => boolean;
}

/** Fails with the emails concerned unless the run went quiet and every email is accounted for, once. */
export function assertAccounted(report: FaultReport, expectations: AccountingExpectations = {}): void {
  const describe = (accounts: EmailAccount[]) =>
    accounts
      .slice(0, 10)
      .map((account) => `  ${account.email.emailId} (${account.email.sample}): ${account.problems.join('; ')}`)
      .join('\n');
  // Counted while messages still moved, the books could balance by luck or fail by chance.
  assert.ok(
    report.settlement.quiet,
    `the run never went quiet, so its books prove nothing: ${report.settlement.detail}\n` +
      `(books as they stood: lost ${report.lost.length}, sent twice ${report.duplicated.length}, wrong end ${report.wrong.length})\n${describe(report.lost)}`,
  );
  assert.equal(report.lost.length, 0, `emails lost:\n${describe(report.lost)}`);
  assert.equal(report.duplicated.length, 0, `emails answered more than once:\n${describe(report.duplicated)}`);
  assert.deepEqual(report.strays, [], 'every reply written belongs to an email of the run');
  assert.equal(report.wrong.length, 0, `emails that ended the wrong way:\n${describe(report.wrong)}`);
  assert.deepEqual(report.inconsistentSamples, [], 'copies of one sample end alike');
  const deadLettered = report.accounts.filter((account) => account.end === 'dead_lettered');
  const unexpected = deadLettered.filter((account) => !expectations.mayDeadLetter?.(account));
  assert.equal(
    unexpected.length,
    0,
    `dead letters this fault must not cause:\n${unexpected
      .slice(0, 10)
      .map((account) => `  ${account.email.emailId}: ${account.reasons.join('; ')}`)
      .join('\n')}`,
  );
  assert.equal(report.unlogged.length, 0, `replies the activity log does not show:\n${describe(report.unlogged)}`);
}
