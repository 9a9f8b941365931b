/**
 * What every case of the fault suite (test/faults/) shares: how many emails flow, the seed that
 * makes its random fault moments repeatable, and the worker settings that make redelivery,
 * retries and shutdown fast enough for a test.
 *
 * - `RAGMAIL_FAULTS_FULL=1` runs every case with 1,000 emails; by default (CI) a reduced size.
 * - `RAGMAIL_FAULTS_EMAILS=<n>` sets the size outright (it wins over the flag).
 * - `RAGMAIL_FAULTS_SEED=<n>` replays the fault moments of an earlier run; each case prints its seed.
 */

/** Emails per case when `RAGMAIL_FAULTS_FULL=1`: the size the issue asks for. */
export const FULL_SIZE = 1_000;
/** Emails per case in CI: enough for every fault to land mid-flow, small enough for ~4 minutes in all. */
export const REDUCED_SIZE = 120;

/** True when the suite runs at full size. */
export const FULL = process.env.RAGMAIL_FAULTS_FULL === '1';

/** Emails per case. */
export function faultSize(): number {
  const explicit = Number(process.env.RAGMAIL_FAULTS_EMAILS);
  if (Number.isInteger(explicit) && explicit > 0) return explicit;
  return FULL ? FULL_SIZE : REDUCED_SIZE;
}

/**
 * Emails dropped into the mailbox per second. The pipeline keeps up with about this rate on a
 * loaded 2-core machine, so mail keeps arriving, and keeps flowing, while the faults happen.
 */
export const DELIVERY_RATE_PER_SECOND = FULL ? 25 : 20;

/** A small seeded generator (mulberry32): the same seed gives the same fault moments. */
export interface SeededRandom {
  seed: number;
  /** A number in [0, 1). */
  next(): number;
  /** A number in [low, high). */
  between(low: number, high: number): number;
  /** An integer in [low, high]. */
  integer(low: number, high: number): number;
  pick<T>(items: readonly T[]): T;
}

export function seededRandom(seed: number): SeededRandom {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let value = state;
    value = Math.imul(value ^ (value >>> 15), value | 1);
    value ^= value + Math.imul(value ^ (value >>> 7), value | 61);
    return ((value ^ (value >>> 14)) >>> 0) / 4_294_967_296;
  };
  const between = (low: number, high: number) => low + next() * (high - low);
  return {
    seed,
    next,
    between,
    integer: (low, high) => Math.floor(between(low, high + 1)),
    pick: (items) => items[Math.floor(next() * items.length)]!,
  };
}

/**
 * The seed of a case: `RAGMAIL_FAULTS_SEED` when set, else a fresh one. Printed with the way to
 * rerun, so a failure seen once can be replayed with the same fault moments.
 */
export function caseSeed(caseName: string): SeededRandom {
  const given = Number(process.env.RAGMAIL_FAULTS_SEED);
  const seed = Number.isInteger(given) && given >= 0 ? given : Math.floor(Math.random() * 2 ** 31);
  process.stdout.write(
    `faults ${caseName}: seed ${seed}, ${faultSize()} emails (rerun with RAGMAIL_FAULTS_SEED=${seed}${FULL ? ' RAGMAIL_FAULTS_FULL=1' : ''})\n`,
  );
  return seededRandom(seed);
}

/**
 * Worker settings for fault runs: auto sending with no rate limit or quota in the way, retries and
 * send leases short, reconnects quick, shutdown grace short, so a redelivered message is handled
 * again within about a second instead of minutes.
 */
export const FAULT_WORKER_ENVIRONMENT: Readonly<Record<string, string>> = {
  SEND_POLICY: 'auto',
  SEND_RATE_PER_MINUTE: '1000000',
  SEND_BURST: '100000',
  DAILY_SEND_QUOTA: '1000000',
  // The shortest lease the configuration allows.
  SEND_LEASE_MS: '1000',
  RETRY_BASE_DELAY_MS: '200',
  MAX_ATTEMPTS: '3',
  SHUTDOWN_GRACE_MS: '1000',
  AMQP_RECONNECT_MIN_MS: '100',
  AMQP_RECONNECT_MAX_MS: '1000',
  AMQP_CONNECT_TIMEOUT_MS: '30000',
  POLL_INTERVAL_MS: '100',
  AUDIT_STREAM_START: 'first',
  METRICS_PORT: '0',
  METRICS_HOST: '127.0.0.1',
  LOG_FORMAT: 'json',
  LOG_LEVEL: 'warn',
};

/** Milliseconds since `start`, as seconds with one decimal, for summaries. */
export function seconds(sinceMs: number): string {
  return `${((Date.now() - sinceMs) / 1000).toFixed(1)} s`;
}
