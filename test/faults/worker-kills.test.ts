/**
 * Fault suite, issue 7: SIGKILL of every role at random (seeded) moments while the emails flow,
 * each killed worker restarted by the test. Every email must still end accounted for: replied
 * exactly once or ended without a reply as it must, none lost, none answered twice, none
 * dead-lettered (a kill is not a failure of the message), and the activity log agreeing with the
 * outbox. One process per role, as in production (`src/cli/index.ts worker --role=<role>`).
 *
 * Besides the random moments, the sender is also killed at the worst one: the instant a reply file
 * lands in the outbox, between its send and its `sent` event and ack.
 *
 * Already proven elsewhere, not repeated here: a runtime worker SIGKILLed mid-message hands the
 * message to the next one (test/integration/resilience.test.ts), and a sender whose reply is
 * already in the outbox does not send it again (test/integration/idempotency.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FULL } from '../helpers/faults.js';
import { assertAccounted } from '../helpers/fault-accounting.js';
import { withFaultRun, type FaultRun, type ScheduledFault } from '../helpers/fault-run.js';
import type { FleetRole } from '../helpers/worker-fleet.js';

const ROLES: FleetRole[] = ['recorder', 'ingester', 'poller', 'classifier', 'responder', 'sender'];
/**
 * How often each role dies at a random moment during one run; each kill costs a worker boot
 * (about 2.5 CPU seconds), hence fewer in CI.
 */
const RANDOM_KILLS = FULL ? 3 : 1;
/** Sender kills the instant a reply is written. */
const KILLS_AS_REPLY_WRITTEN = FULL ? 2 : 1;

/** How long a kill due at the next reply waits for one before it gives up (and the case fails for want of it). */
const REPLY_WAIT_MS = 60_000;

/**
 * The kills of a run, each at a seeded point of the delivery and restarted after a seeded pause.
 * Kills of one role happen one after the other (a worker is killed only once it is back); the
 * books wait until the last one is restarted.
 */
function plannedKills(run: FaultRun): ScheduledFault[] {
  const size = run.emails.length;
  const kill = (role: FleetRole, asReplyWritten: boolean): ScheduledFault => {
    const afterDelivered = Math.max(1, Math.round(run.random.between(0.05, 0.9) * size));
    const restartAfterMs = Math.round(run.random.between(0, 800));
    return {
      afterDelivered,
      lane: role,
      run: async (delivered) => {
        if (!asReplyWritten) {
          await run.fleet.killAndRestart(role, `@${delivered}`, restartAfterMs);
          return;
        }
        const reply = await nextReplyWritten(run, role);
        if (reply) await run.fleet.killAndRestart(role, `@${delivered} as it wrote ${reply.split('/')[1]}`, restartAfterMs);
      },
    };
  };
  return [
    ...ROLES.flatMap((role) => Array.from({ length: RANDOM_KILLS }, () => kill(role, false))),
    ...Array.from({ length: KILLS_AS_REPLY_WRITTEN }, () => kill('sender', true)),
  ];
}

/** The next reply written while a worker of `role` is live, or undefined when none comes in time. */
function nextReplyWritten(run: FaultRun, role: FleetRole): Promise<string | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stop();
      resolve(undefined);
    }, REPLY_WAIT_MS);
    const stop = run.watch.onWrite((reply) => {
      // A sender still restarting from an earlier kill wrote nothing: wait for the next reply.
      if (!run.fleet.running(role)) return;
      stop();
      clearTimeout(timer);
      resolve(reply);
    });
  });
}

test(
  'SIGKILL of each role at random moments (and of the sender as it writes a reply), restarted by the test: every email replied exactly once or ended as it must, 0 lost, 0 sent twice',
  { timeout: 900_000 },
  async () => {
    await withFaultRun({ name: 'worker-kills', processes: ROLES }, async (run) => {
      const report = await run.flow({
        faults: plannedKills(run),
        describe: () => `kills: ${run.fleet.kills.map((kill) => `${kill.role} ${kill.moment}`).join(', ')}`,
      });

      for (const role of ROLES)
        assert.ok(
          run.fleet.kills.some((kill) => kill.role === role),
          `${role} was killed`,
        );
      assert.ok(
        run.fleet.kills.some((kill) => kill.moment.includes('as it wrote')),
        'the sender was killed as it wrote a reply',
      );
      assert.deepEqual(run.fleet.unexpectedExits, [], 'no worker died except by the test');
      assertAccounted(report);
    });
  },
);
