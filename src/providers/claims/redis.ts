/**
 * Send claims in Redis, exclusive across every sender on every host. Each claim is taken in the
 * local ledger first and then in Redis, so the local ledger always knows what this host holds:
 * while Redis is unreachable the claim stands on the local ledger alone (one warning per outage),
 * which still keeps any one host from sending a reply twice, and a claim taken during an outage
 * still stops this host's other senders once Redis is back. Completions and transmitting and
 * transmitted replies go to both stores.
 */
import { createHash } from 'node:crypto';
import { connectRedis, type RedisConnectionSettings } from '../cache/redis.js';
import type { SendClaimResult, SendClaims, SendCompletion } from './spec.js';

/** Options of {@link createRedisClaims}. */
export interface RedisClaimsOptions extends RedisConnectionSettings {
  /** Prepended to every key. Default `ragmail:send:`. */
  keyPrefix?: string;
  /** Claims of this host, used alone while Redis is unreachable (normally the SQLite ledger's). */
  fallback: SendClaims;
  /** How long a `done` marker outlives its send; a redelivery after that relies on the mailbox check. Default 30 days. */
  doneTtlSeconds?: number;
}

/**
 * Takes the claim unless the send is done or another owner's lease is live; the holder's own
 * claim is renewed. One script, so "not done" and "not held" are checked and the claim set at once.
 * A claim of a reply already transmitted is answered `transmitted`, else of one whose SMTP
 * transaction began `transmitting`, with its Message-ID.
 * KEYS: claim, done, transmitted, transmitting. ARGV: owner, lease in ms.
 */
const CLAIM_SCRIPT = `
local done = redis.call('GET', KEYS[2])
if done then return {'done', done} end
local current = redis.call('GET', KEYS[1])
if current and current ~= ARGV[1] then return {'held', current} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local transmitted = redis.call('GET', KEYS[3])
if transmitted then return {'transmitted', transmitted} end
local transmitting = redis.call('GET', KEYS[4])
if transmitting then return {'transmitting', transmitting} end
return {'claimed', ARGV[1]}
`;

/** Deletes the claim only when `owner` holds it (compare-and-delete). KEYS: claim. ARGV: owner. */
const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const THIRTY_DAYS_SECONDS = 30 * 24 * 3600;

/** Send claims shared by every host through Redis, falling back to `fallback` while it is away. */
export function createRedisClaims(options: RedisClaimsOptions): SendClaims {
  const keyPrefix = options.keyPrefix ?? 'ragmail:send:';
  const doneTtlMs = Math.round((options.doneTtlSeconds ?? THIRTY_DAYS_SECONDS) * 1000);
  const { fallback } = options;
  const connection = connectRedis({
    ...options,
    degradation: 'send claims fall back to the local ledger, which keeps sends exactly-once on this host only',
  });

  // Email ids are Message-IDs of any shape; hashed they make safe keys, and the braces keep both
  // keys of one email in one Redis Cluster slot, as the scripts require.
  const keysOf = (emailId: string) => {
    const hash = createHash('sha256').update(emailId).digest('hex').slice(0, 32);
    return {
      claim: `${keyPrefix}{${hash}}:claim`,
      done: `${keyPrefix}{${hash}}:done`,
      transmitted: `${keyPrefix}{${hash}}:transmitted`,
      transmitting: `${keyPrefix}{${hash}}:transmitting`,
    };
  };

  async function claim(emailId: string, owner: string, leaseMs: number): Promise<SendClaimResult> {
    const local = await fallback.claim(emailId, owner, leaseMs);
    if (local === 'done' || local === 'held') return local;
    const keys = keysOf(emailId);
    const outcome = await connection.run((client) =>
      client.eval(CLAIM_SCRIPT, 4, keys.claim, keys.done, keys.transmitted, keys.transmitting, owner, Math.max(1, Math.round(leaseMs))),
    );
    // Redis unreachable: the local claim stands alone (the connection has warned once).
    if (!outcome.ok) return local;
    const [answer, detail] = outcome.value as [string, string];
    if (answer === 'claimed') return local;
    if (answer === 'transmitted') {
      // Transmitted by a sender of another host: remembered here too, for a later outage.
      await fallback.transmitted(emailId, detail);
      return 'transmitted';
    }
    if (answer === 'transmitting') {
      // This host may know more (the reply transmitted): the surer answer wins.
      if (local === 'transmitted') return local;
      await fallback.transmitting(emailId, detail);
      return 'transmitting';
    }
    await fallback.release(emailId, owner);
    if (answer === 'done') {
      // Remember it here too, so this host still answers `done` during a later outage.
      const completion = parseCompletion(detail);
      if (completion) await fallback.complete(emailId, completion);
      return 'done';
    }
    return 'held';
  }

  async function complete(emailId: string, result: SendCompletion): Promise<void> {
    await fallback.complete(emailId, result);
    const keys = keysOf(emailId);
    const marker = JSON.stringify({ email_id: emailId, mode: result.mode, message_id: result.message_id, completed_at: new Date().toISOString() });
    // Not a failure when Redis is away: the send happened and the local ledger knows; another
    // host that takes over later finds the reply by its Message-ID before sending.
    await connection.run((client) =>
      client.multi().set(keys.done, marker, 'PX', doneTtlMs).del(keys.claim).del(keys.transmitted).del(keys.transmitting).exec(),
    );
  }

  async function transmitted(emailId: string, messageId: string): Promise<void> {
    await fallback.transmitted(emailId, messageId);
    // Not a failure when Redis is away: this host's ledger knows; a sender of another host would
    // then send again, the one case a local ledger cannot cover (as for `complete`).
    await connection.run((client) => client.set(keysOf(emailId).transmitted, messageId, 'PX', doneTtlMs));
  }

  async function transmitting(emailId: string, messageId: string): Promise<void> {
    await fallback.transmitting(emailId, messageId);
    // As for `transmitted`: while Redis is away this host's ledger alone knows, which covers its own senders.
    await connection.run((client) => client.set(keysOf(emailId).transmitting, messageId, 'PX', doneTtlMs));
  }

  async function transmissionFailed(emailId: string): Promise<void> {
    await fallback.transmissionFailed(emailId);
    await connection.run((client) => client.del(keysOf(emailId).transmitting));
  }

  async function release(emailId: string, owner: string): Promise<boolean> {
    const releasedLocally = await fallback.release(emailId, owner);
    const outcome = await connection.run((client) => client.eval(RELEASE_SCRIPT, 1, keysOf(emailId).claim, owner));
    return releasedLocally || (outcome.ok && Number(outcome.value) > 0);
  }

  async function holder(emailId: string): Promise<string | undefined> {
    const local = await fallback.holder(emailId);
    if (local) return local;
    const outcome = await connection.run((client) => client.get(keysOf(emailId).claim));
    return outcome.ok && outcome.value !== null ? outcome.value : undefined;
  }

  return {
    provider: 'redis',
    claim,
    complete,
    transmitted,
    transmitting,
    transmissionFailed,
    release,
    holder,
    close: () => connection.close(),
  };
}

function parseCompletion(marker: string | undefined): SendCompletion | undefined {
  try {
    const parsed = JSON.parse(marker ?? '') as Partial<SendCompletion>;
    if (typeof parsed.mode === 'string' && typeof parsed.message_id === 'string') return { mode: parsed.mode, message_id: parsed.message_id };
  } catch {
    // A marker written by hand or by an older version: `done` is still the answer.
  }
  return undefined;
}
