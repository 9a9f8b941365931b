/**
 * Rides out an outage of what a role depends on, instead of burning every message's attempts on
 * it (a circuit breaker). When a handler fails with an outage error — every language model of the
 * chain failing for reasons that pass (429, 5xx, timeouts, unreachable), or the only model doing so
 * — the message goes back to its queue as it was (no attempt counted) and the role stops taking
 * work: its consumer pauses for the pause the provider asked for (`retry-after`) or for a backoff
 * that doubles up to a maximum. Then it takes one message (prefetch 1) as a probe: a success
 * resumes normal work, another outage error pauses again. An outage longer than the limit is
 * treated as any failure again (retries, then the dead-letter queue with its reason). A message
 * that trips a healthy role (others were being handled) counts a hold; after `maxHolds` of those it
 * goes the usual way too, so one message that always times out cannot stall its role for the whole
 * limit. A probe that fails during an outage counts no hold: a lone email waits out the outage.
 */
import type { Logger } from '../lib/log.js';
import { errorCode, isRetryable, retryAfterMsOf } from '../lib/errors.js';

/** Header counting how often a message was held back by an outage (never an attempt). */
export const OUTAGE_HOLDS_HEADER = 'x-ragmail-outage-holds';

/**
 * Failures of a dependency that pass with time, as the providers report them: the language and
 * embedding models' (quota, 5xx, timeouts, unreachable), and the mail servers' that cannot be
 * reached or will not serve anyone now (src/providers/mailbox/mail-server-errors.ts) — not a
 * 4xx or 5xx answer to one message, which is that message's own failure.
 */
const OUTAGE_CODE = /^((llm|embedding)_(unavailable|quota|server_error|timeout|unreachable)|mailbox_unreachable)$/;

/** True for an error that says a dependency is down for a while, not that this message is bad. */
export function isOutageError(error: unknown): boolean {
  return isRetryable(error) && OUTAGE_CODE.test(errorCode(error));
}

export interface OutageOptions {
  /** How long an outage is ridden out before failures count again (OUTAGE_LIMIT_MS); 0 turns the breaker off. */
  limitMs: number;
  /** First pause when the provider names none, in ms; doubles on each failed probe. */
  basePauseMs: number;
  /** Longest pause, in ms (OUTAGE_MAX_PAUSE_MS). */
  maxPauseMs: number;
  /** Holds of one message after which it is failed as usual. */
  maxHolds: number;
}

/** What the breaker does to the consumer. */
export interface BreakerActions {
  /** Stop taking deliveries (those not started go back to the queue). */
  pause(): Promise<void>;
  /** Take deliveries again: one at a time as a probe, or at the role's own prefetch. */
  resume(probe: boolean): Promise<void>;
}

export class OutageBreaker {
  private state: 'closed' | 'open' | 'probing' = 'closed';
  private since: number | undefined;
  private pauseMs = 0;
  private timer: NodeJS.Timeout | undefined;
  /** Settles once the consumer has stopped taking deliveries after the last trip. */
  pausing: Promise<void> = Promise.resolve();

  constructor(
    private readonly options: OutageOptions,
    private readonly actions: BreakerActions,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether the message that failed with `error`, held `holds` times already, goes back to its queue as it was. */
  shouldHold(error: unknown, holds: number): boolean {
    if (this.options.limitMs <= 0 || !isOutageError(error) || holds >= this.options.maxHolds) return false;
    return this.since === undefined || this.now() - this.since < this.options.limitMs;
  }

  /** A message was held for `error`: pause (unless already paused) and schedule the probe. */
  tripped(error: unknown): void {
    if (this.state === 'open') return;
    this.since ??= this.now();
    const asked = retryAfterMsOf(error);
    const backoff = this.pauseMs ? this.pauseMs * 2 : this.options.basePauseMs;
    this.pauseMs = Math.min(this.options.maxPauseMs, Math.max(asked ?? 0, backoff));
    this.state = 'open';
    this.logger.warn('dependency outage: pausing this role, messages wait in their queue', {
      code: errorCode(error),
      pause_ms: this.pauseMs,
      outage_for_ms: this.now() - this.since,
      limit_ms: this.options.limitMs,
    });
    this.pausing = this.actions.pause().catch((pauseError: unknown) => {
      this.logger.error('could not pause the consumer', { error: (pauseError as Error).message });
    });
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.state = 'probing';
      this.logger.info('probing: taking one message to see whether the outage is over');
      this.actions.resume(true).catch((resumeError: unknown) => {
        // Not taking work and no probe to come would stall the role: try again after the pause.
        this.logger.error('could not resume the consumer; trying again after the pause', { error: (resumeError as Error).message });
        this.state = 'open';
        this.scheduleProbe();
      });
    }, this.pauseMs);
    this.timer.unref();
  }

  /** A message was handled: a successful probe ends the outage. */
  succeeded(): void {
    if (this.state !== 'probing') return;
    this.logger.info('outage over: the role takes work again', { outage_for_ms: this.since === undefined ? 0 : this.now() - this.since });
    this.state = 'closed';
    this.since = undefined;
    this.pauseMs = 0;
    void this.actions
      .resume(false)
      .catch((resumeError: unknown) => this.logger.error('could not resume the consumer', { error: (resumeError as Error).message }));
  }

  /** Whether the role is paused or probing now. */
  get inOutage(): boolean {
    return this.state !== 'closed';
  }

  /** Whether the role is paused: no delivery may start until the probe. */
  get paused(): boolean {
    return this.state === 'open';
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
