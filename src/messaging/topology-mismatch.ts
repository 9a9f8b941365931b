/**
 * A queue that already exists with other arguments (the broker's 406 PRECONDITION_FAILED) cannot
 * be fixed by reconnecting. This turns the broker's terse reply into an error that names the queue
 * and both argument sets, so an operator knows what to delete or reconfigure.
 */
import type { ManagementTarget } from './management.js';
import type { Topology } from './topology.js';

export class TopologyMismatchError extends Error {
  readonly code = 'topology_mismatch';
  readonly retryable = false;
  constructor(
    readonly queue: string,
    readonly declared: Record<string, unknown>,
    readonly existing: Record<string, unknown> | null,
    readonly brokerMessage: string,
  ) {
    super(
      `Queue "${queue}" already exists with different arguments.\n` +
        `  declared by ragmail: ${JSON.stringify(declared)}\n` +
        `  existing on broker:  ${existing ? JSON.stringify(existing) : '(management API not reachable)'}\n` +
        `  broker said: ${brokerMessage}\n` +
        `Delete the queue (its messages too) or make the configuration match, then start again.`,
    );
    this.name = 'TopologyMismatchError';
  }
}

/** Reads a queue's current arguments from the management API, or null when it cannot. */
export async function fetchQueueArguments(config: ManagementTarget, queue: string): Promise<Record<string, unknown> | null> {
  try {
    const management = new URL(config.RABBITMQ_MANAGEMENT_URL);
    const vhost = decodeURIComponent(new URL(config.AMQP_URL).pathname.slice(1)) || '/';
    const authorization = `Basic ${Buffer.from(`${decodeURIComponent(management.username)}:${decodeURIComponent(management.password)}`).toString('base64')}`;
    management.username = '';
    management.password = '';
    const url = new URL(`api/queues/${encodeURIComponent(vhost)}/${encodeURIComponent(queue)}`, management.toString().replace(/\/?$/, '/'));
    const response = await fetch(url, { headers: { authorization }, signal: AbortSignal.timeout(2_000) });
    if (!response.ok) return null;
    const body = (await response.json()) as { arguments?: Record<string, unknown> };
    return body.arguments ?? {};
  } catch {
    return null;
  }
}

/** Builds the TopologyMismatchError for a 406 raised while declaring `topology`. */
export async function describeTopologyMismatch(error: Error, topology: Topology, config: ManagementTarget): Promise<Error> {
  const queue = /queue '([^']+)'/.exec(error.message)?.[1];
  const spec = topology.queues.find((candidate) => candidate.name === queue);
  if (!queue || !spec) return error;
  return new TopologyMismatchError(queue, spec.arguments, await fetchQueueArguments(config, queue), error.message);
}
