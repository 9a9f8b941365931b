/**
 * `npm run topology`: declares the topology (removing the retired bindings of earlier versions,
 * see RETIRED_BINDINGS), sets the dead-letter retention policy, then prints what the broker holds.
 * Exits 1 when either could not be done.
 */
import type { Logger } from '../lib/log.js';
import { Broker, type BrokerSettings } from './broker.js';
import { ManagementClient } from './management.js';
import { applyDeadLetterRetention } from './dead-letter-retention.js';

export async function printTopology(config: BrokerSettings & { DEAD_LETTER_MAX_AGE: string }, logger: Logger): Promise<number> {
  const broker = new Broker(config, logger);
  try {
    await broker.start();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    return 1;
  } finally {
    await broker.close();
  }
  const management = new ManagementClient(config);
  const out = (line = '') => process.stdout.write(`${line}\n`);
  let retained = true;
  try {
    const { messageTtlMs } = await applyDeadLetterRetention(config, config.DEAD_LETTER_MAX_AGE);
    out(`Dead letters are kept for ${config.DEAD_LETTER_MAX_AGE} (operator policy, message-ttl ${messageTtlMs} ms).`);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    retained = false;
  }
  try {
    const [exchanges, queues, bindings] = await Promise.all([management.exchanges(), management.queues(), management.bindings()]);
    out(`Topology declared on vhost "${management.vhost}".`);
    for (const binding of broker.topology.retiredBindings) {
      out(`Retired binding removed (if it was there): ${binding.exchange} --${binding.routingKey}--> ${binding.queue}`);
    }
    out('\nExchanges');
    for (const exchange of exchanges.filter((candidate) => candidate.name && !candidate.name.startsWith('amq.'))) {
      out(`  ${exchange.name.padEnd(28)} ${exchange.type.padEnd(7)} ${exchange.durable ? 'durable' : 'transient'}`);
    }
    out('\nQueues');
    for (const queue of queues.sort((a, b) => a.name.localeCompare(b.name))) {
      out(`  ${queue.name.padEnd(40)} ${String(queue.messages ?? 0).padStart(7)} msgs  ${JSON.stringify(queue.arguments)}`);
    }
    out('\nBindings');
    for (const binding of bindings.filter((candidate) => candidate.source)) {
      out(`  ${binding.source.padEnd(28)} --${binding.routing_key}--> ${binding.destination}`);
    }
  } catch (error) {
    out('Topology declared. (The management API was not reachable, so what exists cannot be listed:');
    out(`  ${(error as Error).message}; set RABBITMQ_MANAGEMENT_URL.)`);
    out('\nDeclared:');
    for (const exchange of broker.topology.exchanges) out(`  exchange ${exchange.name} (${exchange.type})`);
    for (const queue of broker.topology.queues) out(`  queue ${queue.name} ${JSON.stringify(queue.arguments)}`);
  }
  return retained ? 0 : 1;
}
