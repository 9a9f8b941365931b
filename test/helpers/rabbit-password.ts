/**
 * RabbitMQ's `rabbit_password_hashing_sha256`, the `password_hash` of rabbitmq/definitions.json:
 * base64 of a 4-byte salt followed by SHA-256(salt + password as UTF-8).
 */
import { createHash, randomBytes } from 'node:crypto';

export const HASHING_ALGORITHM = 'rabbit_password_hashing_sha256';

/** The hash of `password`, with a new random salt unless one is given. */
export function rabbitPasswordHash(password: string, salt: Buffer = randomBytes(4)): string {
  const digest = createHash('sha256')
    .update(Buffer.concat([salt, Buffer.from(password, 'utf8')]))
    .digest();
  return Buffer.concat([salt, digest]).toString('base64');
}

/** Whether `hash` (a `password_hash`) is the hash of `password`. */
export function matchesRabbitHash(password: string, hash: string): boolean {
  const bytes = Buffer.from(hash, 'base64');
  return bytes.byteLength === 36 && rabbitPasswordHash(password, bytes.subarray(0, 4)) === hash;
}
