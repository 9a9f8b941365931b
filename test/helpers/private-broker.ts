/**
 * A RabbitMQ node of the test's own, so a test can stop and start the broker under running
 * workers (`rabbitmqctl stop_app` / `start_app`) without touching the shared node on 5672 that
 * other tests and people use. It runs from the Debian package's scripts with everything of its
 * own: node name, AMQP, distribution and management ports, data and log folders, Erlang cookie
 * (HOME), and a configuration file of its own whose only plugin is the management API (the fault
 * suite reads the queues' unacknowledged messages from it). `stop()` halts it and removes its
 * folders.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { randomUUID } from 'node:crypto';
import { waitFor } from './broker.js';

const run = promisify(execFile);
const SCRIPTS = '/usr/lib/rabbitmq/bin';

export interface PrivateBroker {
  /** `amqp://guest:guest@127.0.0.1:<port>` (default vhost). */
  url: string;
  /** `http://guest:guest@127.0.0.1:<port>` of the node's management API. */
  managementUrl: string;
  node: string;
  /** Runs `rabbitmqctl -n <node> <args>` with the node's environment (cookie, HOME). */
  rabbitmqctl(...args: string[]): Promise<{ stdout: string; stderr: string }>;
  /** `rabbitmqctl stop_app`: connections close, queues and persistent messages stay. */
  stopApp(): Promise<void>;
  /** `rabbitmqctl start_app`, retried while the listener's port is still being released. */
  startApp(): Promise<void>;
  /** Halts the node and removes its folders. */
  stop(): Promise<void>;
}

/** Why a private node cannot run here, or undefined when it can. */
export function privateBrokerUnavailable(): string | undefined {
  if (!existsSync(path.join(SCRIPTS, 'rabbitmq-server')) || !existsSync(path.join(SCRIPTS, 'rabbitmqctl'))) {
    return `RabbitMQ's scripts are not in ${SCRIPTS} (Debian package rabbitmq-server)`;
  }
  return undefined;
}

/**
 * `count` distinct free TCP ports on 127.0.0.1 (free now; the server binds them a moment later).
 * Every listener stays open until all ports are read, so no two of them can be the same port.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers = Array.from({ length: count }, () => net.createServer());
  try {
    for (const server of servers) await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
    return servers.map((server) => (server.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((server) => new Promise((resolve) => (server.listening ? server.close(resolve) : resolve(undefined)))));
  }
}

/** One free TCP port on 127.0.0.1 (see {@link freePorts}). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** Options of {@link startPrivateBroker}. */
export interface PrivateBrokerOptions {
  /** Erlang cookie of the node (and of its rabbitmqctl): nodes that are to form a cluster share one. Default: the node makes its own. */
  cookie?: string;
}

/** Starts a private node and resolves once it accepts AMQP connections. */
export async function startPrivateBroker(options: PrivateBrokerOptions = {}): Promise<PrivateBroker> {
  const base = mkdtempSync(path.join(tmpdir(), 'ragmail-rabbit-'));
  const node = `ragmail-fault-${randomUUID().slice(0, 8)}@localhost`;
  const [port, distributionPort, managementPort] = (await freePorts(3)) as [number, number, number];
  for (const folder of ['home', 'mnesia', 'log']) mkdirSync(path.join(base, folder));
  // Erlang reads the cookie from $HOME and refuses one that others may read.
  if (options.cookie) writeFileSync(path.join(base, 'home', '.erlang.cookie'), options.cookie, { mode: 0o400 });
  writeFileSync(path.join(base, 'enabled_plugins'), '[rabbitmq_management].\n');
  writeFileSync(path.join(base, 'rabbitmq-env.conf'), '');
  writeFileSync(path.join(base, 'rabbitmq.conf'), `management.tcp.ip = 127.0.0.1\nmanagement.tcp.port = ${managementPort}\n`);
  const managementUrl = `http://guest:guest@127.0.0.1:${managementPort}`;
  const environment = {
    PATH: process.env.PATH ?? '',
    HOME: path.join(base, 'home'),
    RABBITMQ_NODENAME: node,
    RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
    RABBITMQ_NODE_PORT: String(port),
    RABBITMQ_DIST_PORT: String(distributionPort),
    RABBITMQ_MNESIA_BASE: path.join(base, 'mnesia'),
    RABBITMQ_LOG_BASE: path.join(base, 'log'),
    RABBITMQ_ENABLED_PLUGINS_FILE: path.join(base, 'enabled_plugins'),
    // Not the shared node's /etc/rabbitmq files: they name its node and its port.
    RABBITMQ_CONF_ENV_FILE: path.join(base, 'rabbitmq-env.conf'),
    RABBITMQ_CONFIG_FILE: path.join(base, 'rabbitmq.conf'),
    ERL_EPMD_ADDRESS: '127.0.0.1',
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: '-kernel inet_dist_use_interface {127,0,0,1}',
  };
  let output = '';
  const server: ChildProcess = spawn(path.join(SCRIPTS, 'rabbitmq-server'), [], { env: environment, stdio: ['ignore', 'pipe', 'pipe'] });
  server.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  server.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()));
  const rabbitmqctl = (...args: string[]) => run(path.join(SCRIPTS, 'rabbitmqctl'), ['-n', node, ...args], { env: environment, timeout: 60_000 });
  const stop = async () => {
    await rabbitmqctl('stop').catch(() => undefined);
    const timer = setTimeout(() => server.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    rmSync(base, { recursive: true, force: true });
  };
  try {
    await Promise.race([
      waitFor(async () => (await accepts(port)) && (await accepts(managementPort)), {
        timeoutMs: 60_000,
        intervalMs: 200,
        what: `the private RabbitMQ node ${node} on ${port} (management on ${managementPort})`,
      }),
      exited.then(() => {
        throw new Error(`the private RabbitMQ node ${node} exited while starting`);
      }),
    ]);
  } catch (error) {
    await stop();
    throw new Error(`${(error as Error).message}\n${output.slice(-3000)}`);
  }
  return {
    url: `amqp://guest:guest@127.0.0.1:${port}`,
    managementUrl,
    node,
    rabbitmqctl,
    stopApp: async () => {
      await rabbitmqctl('stop_app');
    },
    startApp: async () => {
      // A client that connected during the stop can hold the port for a moment: stop and try again.
      for (let attempt = 1; ; attempt += 1) {
        try {
          await rabbitmqctl('start_app');
          return;
        } catch (error) {
          if (attempt >= 5) throw error;
          await rabbitmqctl('stop_app').catch(() => undefined);
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
      }
    },
    stop,
  };
}
