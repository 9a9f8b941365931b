/**
 * A redis-server of the test's own on a free port, with nothing saved to disk, so a test can take
 * Redis away from running workers and bring it back without touching the shared one on 6379.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort } from './private-broker.js';

export interface PrivateRedis {
  url: string;
  /** Kills the server (SIGKILL): every connection breaks, everything it held is gone. */
  kill(): Promise<void>;
  /** Starts it again on the same port, empty. */
  restart(): Promise<void>;
  /** Kills it for good and removes its folder. */
  stop(): Promise<void>;
}

function launch(port: number, directory: string): Promise<ChildProcess> {
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', directory],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start on ${port}: ${output}`)), 15_000);
    server.stdout?.on('data', (data: Buffer) => {
      output += data.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve(server);
      }
    });
    server.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    server.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}: ${output}`));
    });
  });
}

async function kill(server: ChildProcess | undefined): Promise<void> {
  if (!server || server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGKILL');
  await exited;
}

export async function startPrivateRedis(): Promise<PrivateRedis> {
  const directory = mkdtempSync(path.join(tmpdir(), 'ragmail-redis-'));
  const port = await freePort();
  let server: ChildProcess | undefined = await launch(port, directory);
  return {
    url: `redis://127.0.0.1:${port}`,
    kill: async () => {
      await kill(server);
      server = undefined;
    },
    restart: async () => {
      server = await launch(port, directory);
    },
    stop: async () => {
      await kill(server);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
