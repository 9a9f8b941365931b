/**
 * Bearer-token authentication of every `/api/*` request. The token's name becomes
 * `request.operator`, recorded on review decisions.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiToken } from '../../config.js';
import { nameOfToken } from './tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Name of the API token the request carried (set by the auth hook). */
    operator: string;
  }
}

/** An `onRequest` hook that answers 401 unless the request carries one of `tokens`. */
export function requireToken(tokens: readonly ApiToken[]) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const match = /^Bearer[ ]+(\S+)\s*$/i.exec(request.headers.authorization ?? '');
    const name = match ? nameOfToken(tokens, match[1]) : undefined;
    if (name === undefined) {
      const error = match ? 'the API token is not valid' : 'an API token is required: Authorization: Bearer <token>';
      await reply.status(401).header('www-authenticate', 'Bearer').send({ error, code: 'unauthorized' });
      return;
    }
    request.operator = name;
  };
}
