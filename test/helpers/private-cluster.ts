/**
 * A RabbitMQ cluster of the test's own: `size` private nodes (test/helpers/private-broker.ts) on
 * loopback ports, sharing one Erlang cookie, the second and later ones joined to the first
 * (`rabbitmqctl join_cluster`). The shared node on 5672 is never touched. `stop()` halts every
 * node and removes their folders.
 */
import { randomBytes } from 'node:crypto';
import { startPrivateBroker, type PrivateBroker } from './private-broker.js';

export interface PrivateCluster {
  nodes: PrivateBroker[];
  /** Every node's AMQP URL, comma separated: what AMQP_URL takes for a cluster. */
  amqpUrls: string;
  /** Halts every node and removes their folders. */
  stop(): Promise<void>;
}

/** Starts `size` private nodes and joins them into one cluster; resolves once all are running members. */
export async function startPrivateCluster(size = 3): Promise<PrivateCluster> {
  const cookie = randomBytes(20).toString('hex').toUpperCase();
  const nodes: PrivateBroker[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop().catch(() => undefined)));
  };
  try {
    // One after the other: on 2 cores, three Erlang VMs booting at once each take over a minute.
    for (let index = 0; index < size; index += 1) nodes.push(await startPrivateBroker({ cookie }));
    const [first, ...others] = nodes as [PrivateBroker, ...PrivateBroker[]];
    for (const node of others) {
      await node.rabbitmqctl('stop_app');
      await node.rabbitmqctl('join_cluster', first.node);
      await node.rabbitmqctl('start_app');
    }
    const { stdout } = await first.rabbitmqctl('cluster_status', '--formatter', 'json');
    const running = (JSON.parse(stdout) as { running_nodes?: string[] }).running_nodes ?? [];
    const missing = nodes.filter((node) => !running.includes(node.node)).map((node) => node.node);
    if (missing.length > 0) throw new Error(`nodes not running in the cluster after join_cluster: ${missing.join(', ')} (running: ${running.join(', ')})`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { nodes, amqpUrls: nodes.map((node) => node.url).join(','), stop };
}
