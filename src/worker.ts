/**
 * A worker process: connects, asserts the topology, runs the chosen roles, and shuts down
 * gracefully (DESIGN.md §4).
 */
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { Broker } from './messaging/broker.js';
import { Services } from './services.js';
import { startRole, type RoleName, type RunningRole } from './roles/registry.js';

export interface Worker {
  broker: Broker;
  services: Services;
  roles: RunningRole[];
  /** Stops taking work, lets in-flight work finish within the grace time, closes everything. */
  stop(): Promise<void>;
}

export async function startWorker(roleNames: RoleName[], config: Config, logger: Logger): Promise<Worker> {
  const broker = new Broker(config, logger);
  try {
    await broker.start();
  } catch (error) {
    await broker.close();
    throw error;
  }
  const services = new Services(config, logger);
  const roles: RunningRole[] = [];
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      // Producers first, so nothing new enters while the consumers drain.
      const ordered = [...roles].sort((a, b) => Number(b.name === 'poller') - Number(a.name === 'poller'));
      for (const role of ordered.filter((role) => role.name === 'poller')) await role.stop();
      await Promise.all(ordered.filter((role) => role.name !== 'poller').map((role) => role.stop()));
      await broker.close();
      await services.close();
    })();
    return stopping;
  };
  try {
    for (const name of roleNames) roles.push(startRole(name, { config, broker, services, logger }));
  } catch (error) {
    await stop();
    throw error;
  }
  return { broker, services, roles, stop };
}
