/**
 * An in-process token bucket: smooths a worker's calls to a rate-limited service (the mailbox's
 * send API, an LLM) so it stays under the provider's limit instead of collecting 429s. Each
 * process has its own bucket; limits across processes are the daily quota of the send ledger.
 */

/** Options of {@link TokenBucket}. */
export interface TokenBucketOptions {
  /** Most tokens the bucket holds: the largest burst allowed. It starts full. */
  capacity: number;
  /** Tokens added per second, up to `capacity`. Zero means the bucket never refills. */
  refillPerSecond: number;
  /** The clock, in milliseconds; tests inject one. Default: `performance.now`, which never goes back. */
  now?: () => number;
}

/** Slack for floating-point refill sums, so 0.996 + 0.004 tokens count as the 1 they are. */
const EPSILON = 1e-9;

/** Longest single wait `setTimeout` accepts (about 24.8 days); longer waits are chained. */
const MAXIMUM_TIMER_MS = 2_147_483_647;

/**
 * Tokens refill continuously at `refillPerSecond` up to `capacity`; each call takes one or more.
 * Refill is computed lazily from the clock, so an idle bucket costs nothing. Waiters in
 * {@link TokenBucket.take} are not queued: whoever polls first after a refill gets the token.
 */
export class TokenBucket {
  private readonly capacity: number;
  private readonly refillPerMillisecond: number;
  private readonly now: () => number;
  private tokens: number;
  private refilledAt: number;

  constructor(options: TokenBucketOptions) {
    if (!(options.capacity > 0)) throw new RangeError(`capacity must be positive, got ${options.capacity}`);
    if (!(options.refillPerSecond >= 0)) {
      throw new RangeError(`refillPerSecond must be zero or more, got ${options.refillPerSecond}`);
    }
    this.capacity = options.capacity;
    this.refillPerMillisecond = options.refillPerSecond / 1000;
    this.now = options.now ?? (() => performance.now());
    this.tokens = options.capacity;
    this.refilledAt = this.now();
  }

  /** Takes `count` tokens if the bucket holds them now. */
  tryTake(count = 1): boolean {
    this.refill();
    if (this.tokens + EPSILON < count) return false;
    this.tokens = Math.max(this.tokens - count, 0);
    return true;
  }

  /**
   * Milliseconds until `count` tokens will be available (0 when they are now). Infinity when they
   * never will be: more than the capacity, or a bucket that does not refill.
   */
  msUntilAvailable(count = 1): number {
    this.refill();
    if (this.tokens + EPSILON >= count) return 0;
    if (count > this.capacity || this.refillPerMillisecond === 0) return Number.POSITIVE_INFINITY;
    return Math.ceil((count - this.tokens) / this.refillPerMillisecond - EPSILON);
  }

  /**
   * Waits until a token is available and takes it. Rejects with the signal's reason when `signal`
   * aborts first (e.g. at shutdown); no token is taken then. Rejects with a RangeError when the
   * bucket never refills and there is no signal that could end the wait.
   */
  async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      if (this.tryTake()) return;
      const wait = this.msUntilAvailable();
      if (wait === Number.POSITIVE_INFINITY && signal === undefined) {
        throw new RangeError('the bucket never refills: take() would wait forever without an abort signal');
      }
      // Another waiter may win the token we waited for; then we wait again. An endless wait is
      // chained in long timers, which also keep the process alive while it waits for the signal.
      await sleep(Math.min(Math.max(wait, 1), MAXIMUM_TIMER_MS), signal);
    }
  }

  private refill(): void {
    const now = this.now();
    const elapsed = Math.max(now - this.refilledAt, 0);
    this.tokens = Math.min(this.capacity, this.tokens + elapsed * this.refillPerMillisecond);
    this.refilledAt = now;
  }
}

/** Resolves after `milliseconds`, or rejects with the signal's reason when `signal` aborts first. */
function sleep(milliseconds: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, milliseconds);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
