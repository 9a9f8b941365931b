/**
 * Fault suite, issue 13: exactly once over IMAP/SMTP, against a private Dovecot and Postfix with
 * every role a worker process of its own. Two faults, each in a case of its own:
 *
 * - the sender SIGKILLed between SMTP's acceptance of a reply and its copy in the Sent folder (the
 *   tap in front of Dovecot stops the APPEND to Sent and the test kills the sender then): the
 *   Sent-folder check cannot see such a reply, so only the send ledger's `transmitted` record
 *   keeps the redelivered send from sending it again; the restarted sender files the copy. The
 *   other sends in flight when the sender dies may be inside their SMTP transaction (the server's
 *   250 not read yet, or read and not written down): those were recorded `transmitting` only, and
 *   the restarted sender hands them to review with the uncertain reason instead of sending them
 *   again. Such an email may have reached its customer once, never twice; the case counts them;
 * - the sender SIGKILLed inside the SMTP transaction (a tap in front of Postfix holds back its 250 to
 *   the message's end, and the test kills the sender then): Postfix delivers the reply, the sender
 *   never learns it did, and only the `transmitting` record keeps the restarted sender from sending
 *   it again: it hands each such email to review as delivery uncertain, with its reply as a draft;
 * - Postfix stopped mid-run for longer than the sender's retry budget and started again: the sends
 *   that meet the outage are held back without counting attempts and the sender pauses, probing,
 *   until Postfix answers (src/messaging/outage-breaker.ts); none is dead-lettered, none is lost
 *   and none goes out twice.
 *
 * The books come from the servers: each sent reply delivered to its customer exactly once and
 * filed in Sent exactly once, each draft in Drafts, every email ended, no dead letter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { waitFor } from '../helpers/broker.js';
import { seconds } from '../helpers/faults.js';
import { privateMailServersUnavailable } from '../helpers/private-mail-servers.js';
import type { WorkerFleet } from '../helpers/worker-fleet.js';
import { assertMailAccounted, withMailFaultRun, type MailAccount, type MailFaultReport } from '../helpers/mail-fault-run.js';

const unavailable = privateMailServersUnavailable();

/** Sends the sender's runtime held back in their queue, no attempt counted, because the SMTP server could not be reached. */
function sendsHeld(fleet: WorkerFleet): number {
  return fleet.countLines(/^(?=.*message held back in its queue)(?=.*mailbox_unreachable)/);
}
/** Sends retried as their own failure (an attempt counted) for a mail server error. */
function sendsRetried(fleet: WorkerFleet): number {
  return fleet.countLines(/^(?=.*attempt failed, retrying later)(?=.*"code":"mailbox_)/);
}
/** The waits between a message's attempts in the mail fault run (MAX_ATTEMPTS 3, RETRY_BASE_DELAY_MS 200): 0.2 + 0.4 s. */
const RETRY_BUDGET_MS = 600;
/** Emails per case: enough replies for the kills, few enough to keep a case near a minute. */
const SIZE = 30;
/** The APPENDs to Sent (counted from the start, retries included) at which the sender is killed. */
const KILL_AT_APPENDS = [1, 4, 7];
/** The messages (counted from the start) whose 250 is held back while the sender is killed. */
const KILL_AT_ANSWERS = [2, 5];

test(
  'IMAP/SMTP: the sender SIGKILLed between SMTP accepting a reply and its Sent copy, restarted: the copy is filed; a send caught inside its SMTP transaction goes to review as uncertain; 0 lost, 0 sent twice',
  { skip: unavailable, timeout: 600_000 },
  async () => {
    await withMailFaultRun({ name: 'smtp-kill-before-sent-copy', size: SIZE }, async (run) => {
      const kills: Promise<unknown>[] = [];
      run.tap.onCatch = (count) => {
        if (!KILL_AT_APPENDS.includes(count)) return 'pass';
        // The APPEND never reaches Dovecot: the sender dies with its reply out and no Sent copy.
        kills.push(run.fleet.killAndRestart('sender', `at Sent APPEND ${count}`, Math.round(run.random.between(100, 800))));
        return 'hold';
      };
      const report = await run.flow({ describe: () => `kills: ${run.fleet.kills.map((kill) => kill.moment).join(', ')}` });
      await Promise.all(kills);
      // How many replies the policy sends depends on the seed's emails: a kill whose APPEND never came is not a failure, no kill at all is.
      const due = KILL_AT_APPENDS.filter((count) => count <= run.tap.caught);
      assert.ok(due.length > 0, `the sender was killed at least once: ${report.summary}`);
      assert.equal(run.fleet.kills.length, due.length, `the sender was killed at Sent APPENDs ${due.join(', ')}: ${report.summary}`);
      assert.deepEqual(run.fleet.unexpectedExits, [], 'no worker died except by the test');
      assertUncertainInReview('smtp-kill-before-sent-copy', report);
      assertMailAccounted(report);
    });
  },
);

test(
  'IMAP/SMTP: the sender SIGKILLed inside the SMTP transaction (Postfix took the reply, its 250 held back), restarted: each such email goes to review as delivery uncertain, reached its customer once; 0 lost, 0 sent twice',
  { skip: unavailable, timeout: 600_000 },
  async () => {
    await withMailFaultRun({ name: 'smtp-kill-inside-transaction', size: SIZE, smtpTap: true }, async (run) => {
      const kills: Promise<unknown>[] = [];
      run.smtpTap!.onCatch = (count) => {
        if (!KILL_AT_ANSWERS.includes(count)) return 'pass';
        // Postfix has the message and delivers it; the sender dies before it hears so.
        kills.push(run.fleet.killAndRestart('sender', `at SMTP answer ${count}`, Math.round(run.random.between(100, 800))));
        return 'hold';
      };
      const report = await run.flow({ describe: () => `kills: ${run.fleet.kills.map((kill) => kill.moment).join(', ')}` });
      await Promise.all(kills);
      const due = KILL_AT_ANSWERS.filter((count) => count <= run.smtpTap!.caught);
      assert.ok(due.length > 0, `the sender was killed at least once: ${report.summary}`);
      assert.equal(run.fleet.kills.length, due.length, `the sender was killed at SMTP answers ${due.join(', ')}: ${report.summary}`);
      assert.deepEqual(run.fleet.unexpectedExits, [], 'no worker died except by the test');
      const uncertain = assertUncertainInReview('smtp-kill-inside-transaction', report);
      assert.ok(uncertain.length >= due.length, `each send caught by a kill is in review as uncertain: ${report.summary}`);
      assert.ok(
        uncertain.filter((account) => account.delivered === 1).length >= due.length,
        `the held-back ones reached their customers (once): ${report.summary}`,
      );
      assertMailAccounted(report);
    });
  },
);

/**
 * Prints the emails handed to review as delivery uncertain and checks each: in review, its reply a
 * draft, delivered at most once. @returns them.
 */
function assertUncertainInReview(name: string, report: MailFaultReport): MailAccount[] {
  const uncertain = report.accounts.filter((account) => account.uncertain);
  process.stdout.write(
    `faults ${name}: ${uncertain.length} in review as delivery uncertain` +
      uncertain.map((account) => `\n  ${account.email.emailId}: delivered ${account.delivered}, state ${account.state}`).join('') +
      '\n',
  );
  assert.ok(
    uncertain.every((account) => account.state === 'handed_off' && account.drafts === 1 && account.delivered <= 1),
    `every uncertain email is in review with its draft and reached its customer at most once: ${report.summary}`,
  );
  return uncertain;
}

test(
  'IMAP/SMTP: the SMTP server (Postfix) stopped mid-run for longer than the retry budget and started again: the sender rides it out; 0 dead-lettered, 0 lost, 0 sent twice',
  { skip: unavailable, timeout: 600_000 },
  async () => {
    await withMailFaultRun({ name: 'smtp-server-stopped', size: SIZE }, async (run) => {
      const noted: string[] = [];
      let held = 0;
      let downMs = 0;
      const report = await run.flow({
        faults: [
          {
            afterDelivered: Math.round(run.random.between(0.2, 0.5) * SIZE),
            run: async (delivered) => {
              const [heldBefore, retriedBefore] = [sendsHeld(run.fleet), sendsRetried(run.fleet)];
              await run.servers.stopSmtp();
              const wentDown = Date.now();
              // Ten times the retry budget and more: without the breaker every send meeting it would be dead-lettered.
              await delay(Math.round(run.random.between(6_000, 9_000)));
              // Down until a send has met the outage (a reply comes seconds after its email), or a while.
              await waitFor(() => sendsHeld(run.fleet) > heldBefore, { timeoutMs: 20_000, what: 'a send held back' }).catch(() => undefined);
              downMs = Date.now() - wentDown;
              await run.servers.startSmtp();
              held = sendsHeld(run.fleet) - heldBefore;
              noted.push(
                `Postfix stopped at ${delivered} delivered for ${seconds(wentDown)}: ${held} sends held back, ` +
                  `${sendsRetried(run.fleet) - retriedBefore} retried as their own failure`,
              );
            },
          },
        ],
        describe: () => noted.join(', '),
      });
      assert.equal(noted.length, 1, 'Postfix was stopped and started');
      assert.ok(downMs > 10 * RETRY_BUDGET_MS, `the outage outlasted the retry budget: ${report.summary}`);
      assert.ok(held > 0, `the outage met at least one send, held back: ${report.summary}`);
      assert.deepEqual(run.fleet.unexpectedExits, [], 'no worker died except by the test');
      assertMailAccounted(report);
    });
  },
);
