/**
 * Fault suite, issue 7: the broker restarted mid-flow (`rabbitmqctl stop_app`, a pause, then
 * `start_app`) under running worker processes, one per role. The shared RabbitMQ on 5672 is never
 * touched: the case runs its own node (test/helpers/private-broker.ts). Every worker must notice,
 * reconnect and carry on; every email must end accounted for, none lost, none answered twice and
 * none dead-lettered (an outage is not a failure of the message).
 *
 * Already proven elsewhere: one consumer whose connection the broker force-closes reconnects and
 * handles every message (test/integration/resilience.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FULL } from '../helpers/faults.js';
import { assertAccounted } from '../helpers/fault-accounting.js';
import { withFaultRun } from '../helpers/fault-run.js';
import { privateBrokerUnavailable, startPrivateBroker } from '../helpers/private-broker.js';
import type { FleetRole } from '../helpers/worker-fleet.js';

const ROLES: FleetRole[] = ['recorder', 'ingester', 'poller', 'classifier', 'responder', 'sender'];
const RESTARTS = FULL ? 2 : 1;
const unavailable = privateBrokerUnavailable();

test('the broker stopped and started mid-flow (stop_app / start_app): every worker reconnects, every email replied exactly once or ended as it must, 0 lost, 0 sent twice',
  { timeout: 900_000, skip: unavailable && `no private RabbitMQ node can run here: ${unavailable}` }, async () => {
    const broker = await startPrivateBroker();
    try {
      await withFaultRun({ name: 'broker-restart', processes: ROLES, amqpUrl: broker.url }, async (run) => {
        const size = run.emails.length;
        // Each restart at its own seeded point of the flow, with a seeded outage of 2 to 5 seconds.
        const plan = Array.from({ length: RESTARTS }, (_, index) => ({
          afterDelivered: Math.round(run.random.between((0.2 + index * 0.4) * size, (0.5 + index * 0.4) * size)),
          downMs: Math.round(run.random.between(2_000, 5_000)),
        }));
        const outages: string[] = [];
        let next = 0;
        let restarting: Promise<void> = Promise.resolve();
        const report = await run.flow({
          onDelivered: (count) => {
            if (next < plan.length && count >= plan[next]!.afterDelivered) {
              const { downMs } = plan[next]!;
              next += 1;
              restarting = restarting.then(async () => {
                const stoppedAt = Date.now();
                await broker.stopApp();
                await new Promise((resolve) => setTimeout(resolve, downMs));
                await broker.startApp();
                outages.push(`down at ${count} delivered for ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s`);
              });
            }
          },
          // The books wait for the broker to be back.
          during: async () => {
            while (next < plan.length) await new Promise((resolve) => setTimeout(resolve, 100));
            await restarting;
          },
          // A worker that reconnected while the audit stream was still starting was refused with a 404 and had to retry.
          describe: () => `broker ${outages.join(', ')}, ${run.fleet.countLines(/is down or inaccessible/)} refusals of a queue still starting`,
        });

        assert.equal(outages.length, RESTARTS, 'every planned restart happened');
        // Every worker process saw the outage; that the same processes then handled the rest of the
        // flow (none died, none was restarted) shows they reconnected on their own.
        for (const role of ROLES) {
          assert.match(run.fleet.running(role)!.output, /broker connection lost, reconnecting/, `${role} noticed the outage`);
        }
        assert.deepEqual(run.fleet.unexpectedExits, [], 'no worker died');
        assert.equal(run.fleet.processes.length, ROLES.length, 'no worker was restarted');
        assertAccounted(report);
      });
    } finally {
      await broker.stop();
    }
  });
