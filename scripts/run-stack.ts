/**
 * The compose stack as plain processes: one worker process per role and replica, as
 * docker-compose.rabbitmq.yml runs them, against the broker and data folder of the environment.
 * Output lines are prefixed with the process name; SIGINT/SIGTERM stop every process gracefully.
 *
 *   npx tsx scripts/run-stack.ts                       # the compose file's replicas
 *   npx tsx scripts/run-stack.ts classifier=4 responder=4
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { ROLE_NAMES, type RoleName } from '../src/app/registry.js';

/** Replicas per role, as in docker-compose.rabbitmq.yml. */
export const DEFAULT_REPLICAS: Record<RoleName, number> = { poller: 1, classifier: 2, responder: 2, sender: 1, ingester: 1, recorder: 1, api: 1 };

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function parseReplicas(argv: string[]): Record<RoleName, number> {
  const replicas = { ...DEFAULT_REPLICAS };
  for (const argument of argv) {
    const [role, count] = argument.split('=');
    if (!(ROLE_NAMES as readonly string[]).includes(role) || !/^\d+$/.test(count ?? '')) {
      throw new Error(`expected <role>=<replicas> with a role of ${ROLE_NAMES.join(', ')}; got ${argument}`);
    }
    replicas[role as RoleName] = Number(count);
  }
  return replicas;
}

/** Each process serves /metrics on its own port: METRICS_PORT (default 9464) + its position. */
const firstMetricsPort = Number(process.env.METRICS_PORT ?? 9464);

function start(name: string, role: RoleName, position: number): ChildProcess {
  const metricsPort = firstMetricsPort === 0 ? 0 : firstMetricsPort + position;
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'src/cli/index.ts'), 'worker', `--role=${role}`], {
    cwd: process.cwd(),
    env: { ...process.env, LOG_FORMAT: process.env.LOG_FORMAT ?? 'json', METRICS_PORT: String(metricsPort) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${name.padEnd(14)}| ${line}\n`));
  }
  return child;
}

const replicas = parseReplicas(process.argv.slice(2));
const children = new Map<string, ChildProcess>();
for (const role of ROLE_NAMES) {
  for (let index = 1; index <= replicas[role]; index++) children.set(`${role}-${index}`, start(`${role}-${index}`, role, children.size));
}
process.stdout.write(`stack: ${[...children.keys()].join(', ')}\n`);

let stopping = false;
/** Each process's exit: true when it ended cleanly (code 0). */
const exits = [...children].map(
  ([name, child]) =>
    new Promise<boolean>((resolve) =>
      child.on('exit', (code, signal) => {
        if (!stopping || code !== 0) process.stdout.write(`stack: ${name} exited (${signal ?? code})\n`);
        resolve(code === 0);
      }),
    ),
);

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`stack: ${signal}, stopping every process\n`);
    for (const child of children.values()) child.kill('SIGTERM');
    void Promise.all(exits).then((clean) => process.exit(clean.every(Boolean) ? 0 : 1));
  });
}
