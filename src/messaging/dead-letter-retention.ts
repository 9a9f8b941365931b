/**
 * Retention of `dead_letter_queue` (DEAD_LETTER_MAX_AGE), applied by `npm run topology` as a
 * RabbitMQ *operator policy* through the management API, not as an `x-message-ttl` argument:
 *
 * - An argument cannot be added to a queue that exists: every deployment from before would get a
 *   406 on its next declare and could only go on by deleting the queue, and its records with it;
 *   each later change of the retention would do the same. A policy applies to the existing queue
 *   at once and can be changed any time.
 * - An operator policy, not a regular one: only one regular policy applies to a queue (the one of
 *   highest priority), so ours would silently replace one an operator keeps there (mirroring,
 *   lazy mode, a length limit). Operator policies are merged with it instead, the stricter value
 *   winning, and are meant for exactly this kind of cap.
 *
 * The TTL counts from when a record entered the queue. Records already there when the policy is
 * first set carry no expiry and stay until purged (`npm run dlq purge`).
 */
import { durationMs } from '../lib/duration.js';
import { ManagementClient, type ManagementTarget } from './management.js';
import { QUEUES } from './topology.js';

/** Name of the operator policy on each ragmail vhost. */
export const DEAD_LETTER_RETENTION_POLICY = 'ragmail-dead-letter-retention';

/** Sets (or updates) the retention policy on the vhost of AMQP_URL. Needs an administrator of the management API. */
export async function applyDeadLetterRetention(target: ManagementTarget, maxAge: string): Promise<{ vhost: string; messageTtlMs: number }> {
  const management = new ManagementClient(target);
  const messageTtlMs = durationMs(maxAge);
  const pattern = `^${QUEUES.deadLetter.replaceAll('.', '\\.')}$`;
  try {
    await management.request('PUT', `operator-policies/${encodeURIComponent(management.vhost)}/${DEAD_LETTER_RETENTION_POLICY}`, {
      pattern,
      definition: { 'message-ttl': messageTtlMs },
      priority: 0,
      'apply-to': 'queues',
    });
  } catch (error) {
    throw new Error(
      `Could not set the retention of ${QUEUES.deadLetter} (DEAD_LETTER_MAX_AGE=${maxAge}) through the management API: ` +
        `${(error as Error).message}. RABBITMQ_MANAGEMENT_URL must name an administrator of the broker for \`npm run topology\`.`,
    );
  }
  return { vhost: management.vhost, messageTtlMs };
}
