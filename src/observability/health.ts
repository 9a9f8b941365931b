/**
 * Liveness and readiness. `/healthz` answers while the process runs; `/readyz` asks each check and
 * is ready only when all of them are, naming the reasons otherwise — so an orchestrator keeps a
 * worker without a broker connection, one whose consumer the broker cancelled, or one shutting down
 * out of rotation without killing it.
 */

/** Undefined when ready; otherwise why not, e.g. `broker not connected`. */
export type ReadinessCheck = () => string | undefined | Promise<string | undefined>;

/** What `/readyz` answers, as JSON. */
export interface ReadinessReport {
  status: 'ready' | 'not_ready';
  /** `ok` or the reason, per check. */
  checks: Record<string, string>;
  /** The reasons of the checks that failed, `<check>: <reason>`. */
  reasons: string[];
}

/** What `/healthz` answers, as JSON. */
export const LIVENESS = { status: 'ok' } as const;

/** Runs every check (a throwing check counts as not ready) and sums them up. */
export async function checkReadiness(checks: Record<string, ReadinessCheck>): Promise<ReadinessReport> {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        return [name, (await check()) ?? 'ok'] as const;
      } catch (error) {
        return [name, `check failed: ${(error as Error).message}`] as const;
      }
    }),
  );
  const reasons = entries.filter(([, result]) => result !== 'ok').map(([name, result]) => `${name}: ${result}`);
  return { status: reasons.length === 0 ? 'ready' : 'not_ready', checks: Object.fromEntries(entries), reasons };
}

/** Ready when the broker is connected and the topology asserted on the current connection. */
export function brokerReadiness(broker: { readonly ready: boolean }): ReadinessCheck {
  return () => (broker.ready ? undefined : 'not connected, or the topology not yet asserted on this connection');
}

/**
 * Ready once every consumer consumes: not while one has yet to subscribe (its channel's setup runs
 * after the roles started), nor while the broker cancelled one (its queue deleted, its node lost)
 * that does not consume again yet — such a worker is connected and looks healthy, but takes no
 * work from that queue.
 */
export function consumerReadiness(broker: { readonly cancelledQueues: string[]; readonly subscribingQueues: string[] }): ReadinessCheck {
  return () => {
    const reasons = [
      broker.cancelledQueues.length > 0 ? `cancelled by the broker, subscribing again: ${broker.cancelledQueues.join(', ')}` : '',
      broker.subscribingQueues.length > 0 ? `not consuming yet: ${broker.subscribingQueues.join(', ')}` : '',
    ].filter(Boolean);
    return reasons.length === 0 ? undefined : reasons.join('; ');
  };
}

/** Where a worker is in its life. */
export type WorkerPhase = 'starting' | 'running' | 'stopping';

/** Ready only while the roles run: not while they start, nor once shutdown began. */
export function phaseReadiness(phase: () => WorkerPhase): ReadinessCheck {
  return () => {
    switch (phase()) {
      case 'running':
        return undefined;
      case 'starting':
        return 'roles are starting';
      case 'stopping':
        return 'shutting down';
    }
  };
}
