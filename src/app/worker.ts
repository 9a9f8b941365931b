/**
 * A worker process: connects, asserts the topology, runs the chosen roles, and shuts down
 * gracefully (docs/ARCHITECTURE.md#shutdown).
 */
import type { Config } from './config.js';
import type { Logger } from '../lib/log.js';
import { Broker } from '../messaging/broker.js';
import { Services } from './services.js';
import { ROLES, startRole, type RoleName, type RunningRole } from './registry.js';
import { ManagementClient } from '../messaging/management.js';
import { createWorkerMetrics, registerQueueGauges, type WorkerMetrics } from '../observability/metrics.js';
import { brokerReadiness, checkReadiness, consumerReadiness, phaseReadiness, type WorkerPhase } from '../observability/health.js';
import { startHttpServer, type HttpServer } from '../observability/server.js';

export interface Worker {
  broker: Broker;
  services: Services;
  roles: RunningRole[];
  /** This process's metrics, served at `/metrics`. */
  metrics: WorkerMetrics;
  /** The `/metrics`, `/healthz`, `/readyz` server (METRICS_HOST, METRICS_PORT). */
  http: HttpServer;
  /** Stops taking work, lets in-flight work finish within the grace time, closes everything. */
  stop(): Promise<void>;
}

export async function startWorker(roleNames: RoleName[], config: Config, logger: Logger): Promise<Worker> {
  const broker = new Broker(config, logger);
  const metrics = createWorkerMetrics();
  metrics.observeBroker(broker);
  let phase: WorkerPhase = 'starting';
  // Up before the broker connects, so /healthz answers (and /readyz says why not) during boot.
  let http: HttpServer;
  try {
    http = await startHttpServer({
      host: config.METRICS_HOST,
      port: config.METRICS_PORT,
      nextPortsToTry: 20,
      registry: metrics.registry,
      readiness: () => checkReadiness({ broker: brokerReadiness(broker), consumers: consumerReadiness(broker), roles: phaseReadiness(() => phase) }),
      logger,
    });
  } catch (error) {
    await broker.close();
    throw new Error(
      `Cannot serve metrics on ${config.METRICS_HOST}:${config.METRICS_PORT} (METRICS_HOST, METRICS_PORT; 0 picks a free port): ${(error as Error).message}`,
    );
  }
  logger.info('metrics and health endpoints listening', { url: http.url, paths: ['/metrics', '/healthz', '/readyz'] });
  try {
    await broker.start();
  } catch (error) {
    await broker.close();
    await http.close();
    throw error;
  }
  // A client per lookup: a bad RABBITMQ_MANAGEMENT_URL shows as ragmail_management_up 0, not a failed boot.
  registerQueueGauges(metrics, { queues: () => new ManagementClient(config).queues() });
  const services = new Services(config, logger, metrics);
  // The checks load the provider SDKs: only when a role here uses a model that is not the local one.
  if (roleNames.some((name) => ROLES[name].usesLanguageModel) && config.llmProviders.some((name) => name !== 'local')) {
    void import('./provider-checks.js').then(({ reportLanguageModelProblems }) => reportLanguageModelProblems(config, logger));
  }
  const roles: RunningRole[] = [];
  let stopping: Promise<void> | undefined;
  const stop = () => {
    phase = 'stopping';
    stopping ??= (async () => {
      // Producers first, so nothing new enters while the consumers drain.
      for (const role of roles.filter((role) => role.kind === 'producer')) await role.stop();
      await Promise.all(roles.filter((role) => role.kind !== 'producer').map((role) => role.stop()));
      await broker.close();
      // Before the services: the quota gauge reads their database.
      await http.close();
      await services.close();
    })();
    return stopping;
  };
  try {
    for (const name of roleNames) {
      const role = await startRole(name, { config, broker, services, logger, metrics });
      roles.push(role);
      await role.ready;
      if (role.runtime) metrics.observeRuntime(role.runtime);
    }
  } catch (error) {
    await stop();
    throw error;
  }
  phase = 'running';
  return { broker, services, roles, metrics, http, stop };
}
