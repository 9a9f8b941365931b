/**
 * Real worker processes for the fault suite: each is `node --import tsx src/cli/index.ts worker
 * --role=<role>`, as in production, so a SIGKILL is a real one. The fleet restarts what it killed,
 * keeps every process's output for failure messages, and notices a worker that died on its own.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { RoleName } from '../../src/app/registry.js';
import { PROJECT_ROOT } from './worker-process.js';

/** A role, or `all` roles in one process. */
export type FleetRole = RoleName | 'all';

/** One running (or ended) worker process. */
export interface FleetProcess {
  role: FleetRole;
  child: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** True once the fleet itself ended or is ending it. */
  ending: boolean;
  output: string;
}

/** A kill the fleet carried out, for the case summary. */
export interface KillRecord {
  role: FleetRole;
  pid: number;
  /** Milliseconds since the fleet started. */
  atMs: number;
  /** What the caller said about the moment, e.g. `after 57 emails delivered`. */
  moment: string;
}

/** Output kept per process; a worker that logs more keeps the end. */
const OUTPUT_LIMIT = 512 * 1024;

export class WorkerFleet {
  /** Every process started so far, restarts included, oldest first. */
  readonly processes: FleetProcess[] = [];
  readonly kills: KillRecord[] = [];
  /** Workers that ended without the fleet asking, with the end of their output. */
  readonly unexpectedExits: string[] = [];
  private readonly started = Date.now();
  private reportDeath: (error: Error) => void = () => undefined;
  /** Rejects when a worker dies by itself: race a long wait against it to fail at once. */
  readonly died: Promise<never> = new Promise<never>((_resolve, reject) => {
    this.reportDeath = reject;
  });

  /** `environment` is the whole environment of every worker (plus PATH and HOME). */
  constructor(private readonly environment: Record<string, string>) {
    // Nobody may be racing against it when a worker dies.
    this.died.catch(() => undefined);
  }

  /** Starts one worker process running `role`. */
  start(role: FleetRole): FleetProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'worker', `--role=${role}`], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...this.environment },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    if (child.pid === undefined) throw new Error(`could not spawn a ${role} worker`);
    const worker: FleetProcess = {
      role,
      child,
      pid: child.pid,
      ending: false,
      output: '',
      exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal }))),
    };
    const keep = (chunk: Buffer) => {
      worker.output += chunk.toString('utf8');
      if (worker.output.length > OUTPUT_LIMIT) worker.output = worker.output.slice(-OUTPUT_LIMIT / 2);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    void worker.exited.then(({ code, signal }) => {
      if (worker.ending) return;
      const description = `${role} worker ${worker.pid} exited by itself (code ${code}, signal ${signal}):\n${worker.output.slice(-4000)}`;
      this.unexpectedExits.push(description);
      this.reportDeath(new Error(description));
    });
    this.processes.push(worker);
    return worker;
  }

  /** The live process of `role` (the latest one started), if any. */
  running(role: FleetRole): FleetProcess | undefined {
    return this.processes.filter((worker) => worker.role === role && !worker.ending).at(-1);
  }

  /** SIGKILLs the live worker of `role`, waits until it is gone, and starts a new one after `restartAfterMs`. */
  async killAndRestart(role: FleetRole, moment: string, restartAfterMs = 0): Promise<KillRecord> {
    const worker = this.running(role);
    if (!worker) throw new Error(`no live ${role} worker to kill`);
    worker.ending = true;
    worker.child.kill('SIGKILL');
    const exit = await worker.exited;
    if (exit.signal !== 'SIGKILL') throw new Error(`${role} worker ${worker.pid} ended with ${JSON.stringify(exit)} instead of SIGKILL`);
    const record: KillRecord = { role, pid: worker.pid, atMs: Date.now() - this.started, moment };
    this.kills.push(record);
    if (restartAfterMs > 0) await new Promise((resolve) => setTimeout(resolve, restartAfterMs));
    this.start(role);
    return record;
  }

  /** Asks every live worker to stop (SIGTERM), then SIGKILLs what is left after `graceMs`. */
  async stopAll(graceMs = 10_000): Promise<void> {
    const live = this.processes.filter((worker) => worker.child.exitCode === null && worker.child.signalCode === null);
    for (const worker of live) {
      worker.ending = true;
      worker.child.kill('SIGTERM');
    }
    await Promise.all(
      live.map(async (worker) => {
        const timer = setTimeout(() => worker.child.kill('SIGKILL'), graceMs);
        await worker.exited;
        clearTimeout(timer);
      }),
    );
  }

  /** How many output lines of all workers, restarts included, match `pattern`. */
  countLines(pattern: RegExp): number {
    return this.processes.reduce((total, worker) => total + worker.output.split('\n').filter((line) => pattern.test(line)).length, 0);
  }

  /** The end of every worker's output, for a failure message. */
  describe(): string {
    return this.processes.map((worker) => `--- ${worker.role} ${worker.pid}${worker.ending ? '' : ' (live)'}\n${worker.output.slice(-3000)}`).join('\n');
  }
}
