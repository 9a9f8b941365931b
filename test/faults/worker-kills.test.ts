/**
 * Fault suite, issue 7: SIGKILL of every role at random (seeded) moments while the emails flow,
 * each killed worker restarted by the test. Every email must still end accounted for: replied
 * exactly once or ended without a reply as it must, none lost, none answered twice, none
 * dead-lettered (a kill is not a failure of the message), and the activity log agreeing with the
 * outbox. One process per role, as in production (`cli.ts worker --role=<role>`).
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
import { withFaultRun, type FaultRun } from '../helpers/fault-run.js';
import type { FleetRole } from '../helpers/worker-fleet.js';

const ROLES: FleetRole[] = ['recorder', 'ingester', 'poller', 'classifier', 'responder', 'sender'];
/**
 * How often each role dies at a random moment during one run; each kill costs a worker boot
 * (about 2.5 CPU seconds), hence fewer in CI.
 */
const RANDOM_KILLS = FULL ? 3 : 1;
/** Sender kills the instant a reply is written. */
const KILLS_AS_REPLY_WRITTEN = FULL ? 2 : 1;

interface PlannedKill {
  role: FleetRole;
  /** Fired once this many emails were delivered. */
  afterDelivered: number;
  /** Fired at the next reply written after that, rather than at once. */
  asReplyWritten: boolean;
  /** The killed worker is started again this long after it died. */
  restartAfterMs: number;
}

function plan(run: FaultRun): PlannedKill[] {
  const size = run.emails.length;
  const kill = (role: FleetRole, asReplyWritten: boolean): PlannedKill => ({
    role,
    asReplyWritten,
    afterDelivered: Math.max(1, Math.round(run.random.between(0.05, 0.9) * size)),
    restartAfterMs: Math.round(run.random.between(0, 800)),
  });
  return [
    ...ROLES.flatMap((role) => Array.from({ length: RANDOM_KILLS }, () => kill(role, false))),
    ...Array.from({ length: KILLS_AS_REPLY_WRITTEN }, () => kill('sender', true)),
  ].sort((left, right) => left.afterDelivered - right.afterDelivered);
}

test('SIGKILL of each role at random moments (and of the sender as it writes a reply), restarted by the test: every email replied exactly once or ended as it must, 0 lost, 0 sent twice', { timeout: 900_000 }, async () => {
  await withFaultRun({ name: 'worker-kills', processes: ROLES }, async (run) => {
    const planned = plan(run);
    // Kills of one role happen one after the other (a worker is killed only once it is back).
    const chains = new Map<FleetRole, Promise<unknown>>();
    const killLater = (role: FleetRole, moment: string, restartAfterMs: number) => {
      chains.set(role, (chains.get(role) ?? Promise.resolve()).then(() => run.fleet.killAndRestart(role, moment, restartAfterMs)));
    };
    const pending = [...planned];
    const onDelivered = (count: number) => {
      while (pending.length > 0 && pending[0]!.afterDelivered <= count) {
        const { role, asReplyWritten, restartAfterMs } = pending.shift()!;
        if (!asReplyWritten) {
          killLater(role, `@${count}`, restartAfterMs);
          continue;
        }
        const stop = run.watch.onWrite((reply) => {
          // A sender still restarting from an earlier kill wrote nothing: wait for the next reply.
          if (!run.fleet.running(role)) return;
          stop();
          killLater(role, `@${count} as it wrote ${reply.split('/')[1]}`, restartAfterMs);
        });
      }
    };
    const report = await run.flow({
      onDelivered,
      describe: () => `kills: ${run.fleet.kills.map((kill) => `${kill.role} ${kill.moment}`).join(', ')}`,
    });
    await Promise.all(chains.values());

    for (const role of ROLES) assert.ok(run.fleet.kills.some((kill) => kill.role === role), `${role} was killed`);
    assert.ok(run.fleet.kills.some((kill) => kill.moment.includes('as it wrote')), 'the sender was killed as it wrote a reply');
    assert.deepEqual(run.fleet.unexpectedExits, [], 'no worker died except by the test');
    assertAccounted(report);
  });
});
