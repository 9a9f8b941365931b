/**
 * Failed sign-ins counted per client address: after API_MAX_FAILED_SIGN_INS wrong tokens within a
 * minute, that address gets 429 until the minute is over, whatever token it sends next (a correct
 * one let through would tell a guesser it had won). Other addresses are not affected.
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';

/** How long the failures of one address are counted. */
export const SIGN_IN_WINDOW_SECONDS = 60;

/** Counts wrong tokens per client address, in this process. */
export class SignInThrottle {
  private readonly failures: RateLimiterMemory;

  constructor(readonly maxFailures: number) {
    this.failures = new RateLimiterMemory({ points: maxFailures, duration: SIGN_IN_WINDOW_SECONDS });
  }

  /** Milliseconds until `address` may try again; 0 when it may now. */
  async waitOf(address: string): Promise<number> {
    const state = await this.failures.get(address);
    return state && state.consumedPoints >= this.maxFailures ? Math.max(state.msBeforeNext, 1) : 0;
  }

  /** Counts one wrong token of `address`; returns how many it presented in this window. */
  async recordFailure(address: string): Promise<number> {
    try {
      return (await this.failures.consume(address)).consumedPoints;
    } catch (rejection) {
      // The limiter rejects with its state once the points are spent; anything else is a real fault.
      if (rejection instanceof RateLimiterRes) return rejection.consumedPoints;
      throw rejection;
    }
  }
}
