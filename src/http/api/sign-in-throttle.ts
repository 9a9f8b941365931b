/**
 * Failed sign-ins counted per client address: after API_MAX_FAILED_SIGN_INS wrong tokens within a
 * minute, that address's wrong tokens get 429 until the minute is over. A valid token still gets
 * in (auth.ts): behind a proxy, a port-forward or a NAT many operators share one address, and one
 * guesser must not lock them all out. Tokens of at least 24 random characters are what defeat
 * guessing; the throttle makes a guesser visible (logged) and cheap to answer, not a locked door.
 * Which address a request has is fastify's `request.ip`, so API_TRUST_PROXY decides whether a
 * proxy's X-Forwarded-For counts.
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
