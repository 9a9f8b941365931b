/**
 * The broker as the dashboard shows it: depth, consumers and rates of the work queues, the
 * dead-letter queue and the audit stream, from the management API of the vhost in AMQP_URL.
 * An unreachable management API is an answer (`reachable: false`), not an error, so the page can say so.
 */
import type { FastifyInstance } from 'fastify';
import { ManagementClient, type ManagementQueue } from '../../messaging/management.js';
import { QUEUES, WORK_QUEUES } from '../../messaging/topology.js';
import type { ApiContext } from './context.js';

/** The queues shown, in flow order; wait queues of delayed retries are left out. */
const SHOWN_QUEUES = [...WORK_QUEUES.map((queue) => queue.name), QUEUES.deadLetter, QUEUES.audit];

/** One queue as the API answers it. */
export interface QueueStatus {
  name: string;
  messages: number;
  messages_ready: number;
  messages_unacknowledged: number;
  consumers: number;
  /** Messages per second published to / delivered from the queue; 0 when the broker has no sample yet. */
  publish_rate: number;
  deliver_rate: number;
}

function toStatus(queue: ManagementQueue): QueueStatus {
  return {
    name: queue.name,
    messages: queue.messages ?? 0,
    messages_ready: queue.messages_ready ?? 0,
    messages_unacknowledged: queue.messages_unacknowledged ?? 0,
    consumers: queue.consumers ?? 0,
    publish_rate: queue.message_stats?.publish_details?.rate ?? 0,
    deliver_rate: queue.message_stats?.deliver_get_details?.rate ?? 0,
  };
}

export function brokerRoutes(context: ApiContext) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/broker', async () => {
      try {
        // A client per request, as for the queue gauges: a bad RABBITMQ_MANAGEMENT_URL must not break the API.
        const queues = await new ManagementClient(context.config).queues();
        const byName = new Map(queues.map((queue) => [queue.name, queue]));
        return {
          reachable: true,
          queues: SHOWN_QUEUES.flatMap((name) => {
            const queue = byName.get(name);
            return queue ? [toStatus(queue)] : [];
          }),
        };
      } catch (error) {
        context.logger.debug('management API unreachable', { error: (error as Error).message });
        return { reachable: false, queues: [], error: `the RabbitMQ management API did not answer: ${(error as Error).message}` };
      }
    });
  };
}
