/**
 * Fault suite, issue 16: a three-node RabbitMQ cluster of the test's own (private nodes on loopback
 * ports, one Erlang cookie, `rabbitmqctl join_cluster`: test/helpers/private-cluster.ts), the
 * workers given every node's URL (AMQP_URL, comma separated) and QUEUE_TYPE=quorum. Mid-flow the
 * node that leads the work queues is stopped (`rabbitmqctl stop_app`), then brought back. The
 * quorum queues elect a leader among the two nodes left; every worker connected to the stopped
 * node must reconnect to a surviving one and carry on; every email must end accounted for, none
 * lost, none sent twice, none dead-lettered (a lost node is not a failure of the message).
 *
 * The same case with QUEUE_TYPE=classic (run once, 2026-12-03) never went quiet: 59 of 120 emails
 * unaccounted after 139 s, the recorder dead of a 404 (`emails.to_classify` "process is stopped by
 * supervisor" while declaring), no leader moved; a classic queue lives on one node.
 *
 * Open problem: at RAGMAIL_FAULTS_FULL=1 (1,000 emails, leader stopped at 424 delivered for 16-18 s)
 * the case fails, twice of twice (seed 1435431832): 8-9 automated emails delivered 7-10 s after
 * the stop never reach the activity log (no `skipped` event recorded) and 1-2 replies sent then
 * miss their `sent` event; no work message is lost or doubled. Events of that window are lost
 * between the publishers' confirms and the recorder; not diagnosed yet. Likely the `events.audit`
 * stream failing over: RabbitMQ's open issue rabbitmq/rabbitmq-server#9457 reports confirmed
 * messages lost by a stream during fail-over, where quorum queues lose none.
 *
 * The shared RabbitMQ on 5672 is never touched.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { FULL, seconds } from '../helpers/faults.js';
import { assertAccounted } from '../helpers/fault-accounting.js';
import { withFaultRun, type ScheduledFault } from '../helpers/fault-run.js';
import { privateBrokerUnavailable } from '../helpers/private-broker.js';
import { startPrivateCluster, type PrivateCluster } from '../helpers/private-cluster.js';
import { waitFor } from '../helpers/broker.js';
import { ManagementClient } from '../../src/messaging/management.js';
import { QUEUES } from '../../src/messaging/topology.js';
import type { FleetRole } from '../helpers/worker-fleet.js';

const ROLES: FleetRole[] = ['recorder', 'ingester', 'poller', 'classifier', 'responder', 'sender'];
const WORK_QUEUES = [QUEUES.toClassify, QUEUES.toRespond, QUEUES.toSend];
/** How long the leader's node stays away: long enough for every worker on it to reconnect elsewhere and work there. */
const DOWN_MS = FULL ? 15_000 : 8_000;
const unavailable = privateBrokerUnavailable();

/** Node leading each queue, from the management API of `managementUrl`'s node. */
async function leaders(managementUrl: string, queues: readonly string[]): Promise<Map<string, string>> {
  const management = new ManagementClient({ RABBITMQ_MANAGEMENT_URL: managementUrl, AMQP_URL: 'amqp://127.0.0.1/' });
  const listed = await management.request<Array<{ name: string; type?: string; leader?: string; node?: string }>>('GET', 'queues/%2F');
  return new Map(listed.filter((queue) => queues.includes(queue.name)).map((queue) => [queue.name, queue.leader ?? queue.node ?? '?']));
}

test(
  'a three-node cluster with quorum queues loses the node leading the work queues mid-flow (stop_app, then start_app): workers reconnect to the surviving nodes, every email replied exactly once or ended as it must, 0 lost, 0 sent twice',
  // Skipped on a machine without the scripts, but never in CI: there the case must run, or fail.
  { timeout: 1_200_000, skip: unavailable && !process.env.CI ? `no private RabbitMQ node can run here: ${unavailable}` : false },
  async () => {
    if (unavailable) assert.fail(`CI may not skip the cluster case: ${unavailable}`);
    const cluster: PrivateCluster = await startPrivateCluster(3);
    const [first, second, third] = cluster.nodes as [PrivateCluster['nodes'][number], PrivateCluster['nodes'][number], PrivateCluster['nodes'][number]];
    try {
      await withFaultRun(
        {
          name: 'cluster-failover',
          processes: ROLES,
          // The case's own connection declares the topology through the first URL, so the first node
          // leads the quorum queues (RabbitMQ places a new queue's leader on the declaring client's
          // node). The management API the workers and the books read is the third node's, which stays up.
          broker: { amqpUrl: cluster.amqpUrls, managementUrl: third.managementUrl },
          environment: { QUEUE_TYPE: 'quorum', LOG_LEVEL: 'info' },
        },
        async (run) => {
          const before = await leaders(third.managementUrl, WORK_QUEUES);
          const leaderName = before.get(QUEUES.toRespond)!;
          const leader = cluster.nodes.find((node) => node.node === leaderName);
          assert.ok(leader, `the leader of ${QUEUES.toRespond} (${leaderName}) is a node of the cluster; leaders: ${JSON.stringify([...before])}`);
          assert.notEqual(leader, third, 'the node whose management API the case reads is not the one stopped');
          const survivors = cluster.nodes.filter((node) => node !== leader).map((node) => node.node);
          const noted: string[] = [];
          let during = new Map<string, string>();
          const size = run.emails.length;
          const stop: ScheduledFault = {
            afterDelivered: Math.round(run.random.between(0.25 * size, 0.45 * size)),
            run: async (delivered) => {
              const wentDown = Date.now();
              await leader.stopApp();
              // The quorum queues elect a new leader among the two nodes left (checked after the books:
              // queues that cannot move, classic ones, should show what they cost first).
              during = await waitFor(
                async () => {
                  const now = await leaders(third.managementUrl, WORK_QUEUES);
                  return [...now.values()].every((node) => survivors.includes(node)) ? now : undefined;
                },
                { timeoutMs: 20_000, intervalMs: 250 },
              ).then(
                (led) => led ?? during,
                () => leaders(third.managementUrl, WORK_QUEUES),
              );
              await delay(Math.max(0, DOWN_MS - (Date.now() - wentDown)));
              await leader.startApp();
              noted.push(`${leader.node} (leader) stopped at ${delivered} delivered for ${seconds(wentDown)}`);
            },
          };
          const report = await run.flow({
            faults: [stop],
            describe: () => `${noted.join(', ')}; leaders while it was down: ${[...new Set(during.values())].join(', ')}`,
          });

          assert.equal(noted.length, 1, 'the leader was stopped and started');
          for (const role of ROLES) {
            const { output } = run.fleet.running(role)!;
            assert.match(output, /broker connection lost, reconnecting/, `${role} noticed its node go`);
            // After the loss it connected to a node that was up: one of the two others.
            const afterLoss = output.slice(output.indexOf('broker connection lost'));
            const reconnectedTo = /broker connected[^\n]*127\.0\.0\.1:(\d+)/.exec(afterLoss)?.[1];
            assert.ok(reconnectedTo, `${role} reconnected, and said to which node`);
            const otherPorts = [first, second, third].filter((node) => node !== leader).map((node) => new URL(node.url).port);
            assert.ok(
              otherPorts.includes(reconnectedTo),
              `${role} reconnected to a surviving node (port ${reconnectedTo}, survivors ${otherPorts.join(', ')})`,
            );
          }
          assert.deepEqual(run.fleet.unexpectedExits, [], 'no worker died');
          assert.equal(run.fleet.processes.length, ROLES.length, 'no worker was restarted');
          assertAccounted(report);
          assert.ok(
            [...during.values()].every((node) => survivors.includes(node)),
            `while the node was down, the work queues were led by the nodes left: ${JSON.stringify([...during])}`,
          );
        },
      );
    } finally {
      await cluster.stop();
    }
  },
);
