/**
 * Bearer-token authentication of every `/api/*` request. The token's name becomes
 * `request.operator`, recorded on review decisions. Wrong tokens are logged with the client's
 * address (never the token) and throttled per address (sign-in-throttle.ts); the address is
 * fastify's `request.ip`, the client a trusted proxy names (API_TRUST_PROXY) or else the peer.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiToken } from './tokens.js';
import type { Logger } from '../../lib/log.js';
import type { SignInThrottle } from './sign-in-throttle.js';
import { nameOfToken } from './tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Name of the API token the request carried (set by the auth hook). */
    operator: string;
  }
}

/** What {@link requireToken} checks against and reports to. */
export interface TokenCheckOptions {
  tokens: readonly ApiToken[];
  throttle: SignInThrottle;
  logger: Logger;
}

/**
 * An `onRequest` hook that lets a request with one of `tokens` in, whatever its address did; to an
 * address that presented too many wrong tokens it answers 429 with Retry-After, else 401.
 */
export function requireToken({ tokens, throttle, logger }: TokenCheckOptions) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    const name = match ? nameOfToken(tokens, match[1]) : undefined;
    if (name !== undefined) {
      // Operators behind one proxy or port-forward share an address: a guesser's failures must not lock them out.
      request.operator = name;
      return;
    }
    const address = request.ip;
    const path = request.url.split('?')[0];
    const waitMs = await throttle.waitOf(address);
    if (waitMs > 0) {
      const seconds = Math.ceil(waitMs / 1000);
      // Still counted, so the log tells how hard the address kept trying; one warning per window is enough.
      const failures = match ? await throttle.recordFailure(address) : undefined;
      logger.debug('api sign-in throttled', { address, path, failures });
      await reply
        .status(429)
        .header('retry-after', String(seconds))
        .send({ error: `too many wrong API tokens from this address; try again in ${seconds} s`, code: 'too_many_sign_in_failures' });
      return;
    }
    // Only a presented token is a guess; a request without one learns nothing.
    if (match) {
      const failures = await throttle.recordFailure(address);
      const throttled = failures >= throttle.maxFailures;
      logger.warn(throttled ? 'api sign-ins throttled: too many wrong tokens' : 'api sign-in refused: wrong token', {
        address,
        path,
        failures,
        ...(throttled ? { max_failures: throttle.maxFailures } : {}),
      });
    }
    const error = match ? 'the API token is not valid' : 'an API token is required: Authorization: Bearer <token>';
    await reply.status(401).header('www-authenticate', 'Bearer').send({ error, code: 'unauthorized' });
  };
}
