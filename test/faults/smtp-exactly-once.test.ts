/**
 * Fault suite, issue 13: exactly once over IMAP/SMTP, against a private Dovecot and Postfix with
 * every role a worker process of its own. Two faults, each in a case of its own:
 *
 * - the sender SIGKILLed between SMTP's acceptance of a reply and its copy in the Sent folder (the
 *   tap in front of Dovecot stops the APPEND to Sent and the test kills the sender then): the
 *   Sent-folder check cannot see such a reply, so only the send ledger's `transmitted` record
 *   keeps the redelivered send from sending it again; the restarted sender files the copy;
 * - Postfix stopped for a few seconds mid-run and started again: the sends that fail meanwhile are
 *   retried, none is lost and none goes out twice.
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
import { assertMailAccounted, withMailFaultRun } from '../helpers/mail-fault-run.js';

const unavailable = privateMailServersUnavailable();

/** Sends the sender's runtime put back for a retry because the SMTP server could not be reached. */
function sendsRetried(fleet: WorkerFleet): number {
  return fleet.countLines(/^(?=.*attempt failed, retrying later)(?=.*mailbox_unavailable)/);
}
/** Emails per case: enough replies for the kills, few enough to keep a case near a minute. */
const SIZE = 30;
/** The APPENDs to Sent (counted from the start, retries included) at which the sender is killed. */
const KILL_AT_APPENDS = [1, 4, 7];

test(
  'IMAP/SMTP: the sender SIGKILLed between SMTP accepting a reply and its Sent copy, restarted: the copy is filed, 0 lost, 0 sent twice',
  { skip: unavailable, timeout: 600_000 },
  async () => {
    await withMailFaultRun({ name: 'smtp-kill-before-sent-copy', size: SIZE }, async (run) => {
      const kills: Promise<unknown>[] = [];
      run.tap.onAppend = (count) => {
        if (!KILL_AT_APPENDS.includes(count)) return 'pass';
        // The APPEND never reaches Dovecot: the sender dies with its reply out and no Sent copy.
        kills.push(run.fleet.killAndRestart('sender', `at Sent APPEND ${count}`, Math.round(run.random.between(100, 800))));
        return 'hold';
      };
      const report = await run.flow({ describe: () => `kills: ${run.fleet.kills.map((kill) => kill.moment).join(', ')}` });
      await Promise.all(kills);
      assert.equal(run.fleet.kills.length, KILL_AT_APPENDS.length, `the sender was killed at Sent APPENDs ${KILL_AT_APPENDS.join(', ')}: ${report.summary}`);
      assert.deepEqual(run.fleet.unexpectedExits, [], 'no worker died except by the test');
      assertMailAccounted(report);
    });
  },
);

test(
  'IMAP/SMTP: the SMTP server (Postfix) stopped mid-run for a few seconds and started again: 0 lost, 0 sent twice',
  { skip: unavailable, timeout: 600_000 },
  async () => {
    await withMailFaultRun({ name: 'smtp-server-stopped', size: SIZE }, async (run) => {
      const noted: string[] = [];
      let failed = 0;
      const report = await run.flow({
        faults: [
          {
            afterDelivered: Math.round(run.random.between(0.2, 0.5) * SIZE),
            run: async (delivered) => {
              const failedBefore = sendsRetried(run.fleet);
              await run.servers.stopSmtp();
              const wentDown = Date.now();
              await delay(Math.round(run.random.between(2_000, 5_000)));
              // Down until a send has met the outage (a reply comes seconds after its email), or a while.
              await waitFor(() => sendsRetried(run.fleet) > failedBefore, { timeoutMs: 20_000, what: 'a send retried' }).catch(() => undefined);
              await run.servers.startSmtp();
              failed = sendsRetried(run.fleet) - failedBefore;
              noted.push(`Postfix stopped at ${delivered} delivered for ${seconds(wentDown)}, ${failed} send attempts retried meanwhile`);
            },
          },
        ],
        describe: () => noted.join(', '),
      });
      assert.equal(noted.length, 1, 'Postfix was stopped and started');
      assert.ok(failed > 0, `the outage met at least one send: ${report.summary}`);
      assert.deepEqual(run.fleet.unexpectedExits, [], 'no worker died except by the test');
      assertMailAccounted(report);
    });
  },
);
