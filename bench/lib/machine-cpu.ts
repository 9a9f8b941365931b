/**
 * CPU use of the whole machine and of the broker over a stretch of time, from /proc: the machine
 * has 2 shared cores, so a figure means little without knowing whether they were already busy.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

/** Kernel clock ticks per second of /proc times (USER_HZ, 100 on Linux). */
const CLOCK_TICKS = 100;

/** Busy and total ticks of all CPUs together (first line of /proc/stat). */
function machineTicks(): { busy: number; total: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = fields[3] + (fields[4] ?? 0);
  const total = fields.reduce((sum, value) => sum + value, 0);
  return { busy: total - idle, total };
}

/** User + system CPU seconds of a process; NaN once it is gone. */
export function processCpuSeconds(pid: number): number {
  try {
    // The fields after the command name (which may hold spaces) start after its last ')'.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(')').pop()!.trim().split(/\s+/);
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/** Inodes of the sockets listening on `port` (from /proc/net/tcp and tcp6). */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let lines: string[];
    try {
      lines = readFileSync(table, 'utf8').split('\n').slice(1);
    } catch {
      continue;
    }
    for (const line of lines) {
      const fields = line.trim().split(/\s+/);
      // local_address is "ADDR:PORT"; state 0A is LISTEN; field 9 is the inode.
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A') inodes.add(fields[9]);
    }
  }
  return inodes;
}

/**
 * The pid of the RabbitMQ (Erlang VM, `beam.smp`) that listens on `port`, if /proc shows it: other
 * brokers may run on this machine too (tests start private ones).
 */
export function brokerPid(port = Number(new URL(process.env.BENCH_AMQP_URL ?? 'amqp://127.0.0.1:5672').port || 5672)): number | undefined {
  const inodes = listeningInodes(port);
  for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      if (readFileSync(`/proc/${entry}/comm`, 'utf8').trim() !== 'beam.smp') continue;
      for (const fd of readdirSync(`/proc/${entry}/fd`)) {
        const target = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${entry}/fd/${fd}`));
        if (target && inodes.has(target[1])) return Number(entry);
      }
    } catch {
      // The process ended while it was looked at, or its fds are not readable.
    }
  }
  return undefined;
}

/** CPU used between `start()` and `stop()`, in cores (1 = one core fully busy). */
export interface CpuWindow {
  stop(): { machineCores: number; brokerCores: number; seconds: number };
}

export function startCpuWindow(): CpuWindow {
  const cores = Number(readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm)?.length ?? 1);
  const broker = brokerPid();
  const machineStart = machineTicks();
  const brokerStart = broker === undefined ? Number.NaN : processCpuSeconds(broker);
  const started = Date.now();
  return {
    stop() {
      const seconds = (Date.now() - started) / 1000;
      const machineEnd = machineTicks();
      const machineCores = ((machineEnd.busy - machineStart.busy) / (machineEnd.total - machineStart.total)) * cores;
      const brokerCores = broker === undefined ? Number.NaN : (processCpuSeconds(broker) - brokerStart) / seconds;
      return { machineCores, brokerCores, seconds };
    },
  };
}
