/**
 * A worker started as the README says (`npm run worker -- --role=…`) stops on a SIGTERM sent to the
 * outermost process — what systemd, a supervisor or `docker stop` without an init do: it logs its
 * shutdown, exits within the grace time, and leaves no process of its tree behind. npm runs a
 * script through `sh -c`, and Debian's dash does not pass a signal on to its child: the scripts
 * `exec` the command so that the shell is replaced by it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { createTestVhost, waitFor } from '../helpers/broker.js';
import { PROJECT_ROOT } from '../helpers/worker-process.js';

/** Every live descendant of `pid`, read from /proc. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const parent = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {
      // The process ended while the list was read.
    }
  }
  const found: number[] = [];
  const visit = (id: number) => {
    for (const child of children.get(id) ?? []) {
      found.push(child);
      visit(child);
    }
  };
  visit(pid);
  return found;
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return !readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z');
  } catch {
    return false;
  }
};

test(
  'SIGTERM to `npm run worker` reaches the worker: it logs its shutdown, exits in the grace time, and nothing of its tree is left',
  { timeout: 90_000 },
  async () => {
    const vhost = await createTestVhost();
    const npm = spawn('npm', ['run', '--silent', 'worker', '--', '--role=classifier'], {
      cwd: PROJECT_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        AMQP_URL: vhost.config.AMQP_URL,
        RABBITMQ_MANAGEMENT_URL: vhost.config.RABBITMQ_MANAGEMENT_URL,
        DATA_DIR: vhost.dataDir,
        METRICS_PORT: '0',
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'info',
        SHUTDOWN_GRACE_MS: '5000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => npm.on('exit', (code) => resolve(code)));
    let tree: number[] = [];
    try {
      await waitFor(() => /"message":"worker running"/.test(output), { timeoutMs: 60_000, what: `the worker running:\n${output}` });
      tree = descendants(npm.pid!);
      assert.ok(tree.length >= 1, `npm started the worker under it: ${tree}`);
      const sentAt = Date.now();
      process.kill(npm.pid!, 'SIGTERM');
      const code = await Promise.race([exited, new Promise<'hung'>((resolve) => setTimeout(() => resolve('hung'), 15_000))]);
      assert.notEqual(code, 'hung', `npm exits after SIGTERM:\n${output}`);
      await waitFor(() => tree.every((pid) => !alive(pid)), { timeoutMs: 10_000, what: 'every process of the tree gone' });
      assert.ok(Date.now() - sentAt < 10_000, 'within the grace time and a little more');
      assert.match(output, /"message":"shutting down"[^\n]*"signal":"SIGTERM"/, `the worker itself logged its shutdown:\n${output}`);
    } finally {
      // Orphans are no longer npm's descendants: the tree as it was before the signal is what to clean up.
      for (const pid of [npm.pid!, ...tree, ...descendants(npm.pid!)]) if (alive(pid)) process.kill(pid, 'SIGKILL');
      await vhost.cleanup();
    }
  },
);
