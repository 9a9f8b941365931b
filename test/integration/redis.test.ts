/**
 * Redis for real (127.0.0.1:6379, keys under a fresh prefix, deleted afterwards): the cache
 * contract, cross-host retrieval invalidation, the send-claim contract on the local ledger and on
 * Redis across two "hosts", and a private redis-server killed mid-run and started again.
 */
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { setTimeout as delay } from 'node:timers/promises';
import { Redis } from 'ioredis';
import winston from 'winston';
import type { Logger } from '../../src/lib/log.js';
import { createRedisCache } from '../../src/providers/cache/redis.js';
import { createLocalClaims } from '../../src/providers/claims/local.js';
import { createRedisClaims } from '../../src/providers/claims/redis.js';
import type { SendClaims } from '../../src/providers/claims/spec.js';
import { createCachedVectorStore } from '../../src/providers/vector-store/cached.js';
import { createSqliteVectorStore } from '../../src/providers/vector-store/sqlite.js';
import { openSqlite } from '../../src/store/sqlite-engine.js';
import { SendLedger } from '../../src/store/send-ledger.js';
import { cacheContract } from '../contracts/cache.js';

const SHARED_REDIS = 'redis://127.0.0.1:6379';
const prefix = `ragmail-test:${randomUUID()}:`;
const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));

after(async () => {
  const admin = new Redis(SHARED_REDIS);
  const keys: string[] = [];
  for await (const batch of admin.scanStream({ match: `${prefix}*`, count: 500 })) keys.push(...(batch as string[]));
  if (keys.length > 0) await admin.del(...keys);
  admin.disconnect();
  fs.rmSync(directory, { recursive: true, force: true });
});

/** A real winston logger whose lines the test can read. */
function capturingLogger(): { logger: Logger; lines: { level: string; message: string }[] } {
  const lines: { level: string; message: string }[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)) as { level: string; message: string });
      done();
    },
  });
  return { logger: winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream })] }), lines };
}

/** The send claims of one host: its own SQLite ledger. */
function localClaimsOf(host: string): SendClaims {
  return createLocalClaims(new SendLedger(openSqlite(path.join(directory, `${host}-${randomUUID()}.sqlite`))));
}

cacheContract('redis', () => createRedisCache({ url: SHARED_REDIS, keyPrefix: `${prefix}cache:`, logger: capturingLogger().logger }));

test('an upsert on one host invalidates the cached retrieval results of every host', async () => {
  const vectors = createSqliteVectorStore({ path: path.join(directory, 'vectors.sqlite') });
  let queries = 0;
  const counted = {
    ...vectors,
    query: (namespace: string, text: string, k: number) => {
      queries += 1;
      return vectors.query(namespace, text, k);
    },
  };
  const [cacheA, cacheB] = [1, 2].map(() => createRedisCache({ url: SHARED_REDIS, keyPrefix: `${prefix}retrieval:`, logger: capturingLogger().logger }));
  const hostA = createCachedVectorStore(counted, cacheA, 60);
  const hostB = createCachedVectorStore(counted, cacheB, 60);
  try {
    const chunk = { document_id: 'manual', document_name: 'manual.pdf', page: 1, chunk_index: 0, text: 'Hold the reset button for ten seconds.' };
    await hostA.upsert('support@acme.test', [chunk]);
    await hostA.query('support@acme.test', 'reset button', 3);
    await hostB.query('support@acme.test', 'reset button', 3);
    assert.equal(queries, 1, 'host B is answered from what host A cached');
    // Another page: a query returns at most one chunk per page, so a second page makes the result grow.
    await hostB.upsert('support@acme.test', [{ ...chunk, page: 2, chunk_index: 1, text: 'The reset button is on the back.' }]);
    assert.equal((await hostA.query('support@acme.test', 'reset button', 3)).length, 2);
    assert.equal(queries, 2, 'host A queries the store again after host B changed the namespace');
  } finally {
    await Promise.all([cacheA.close(), cacheB.close(), vectors.close()]);
  }
});

/**
 * The SendClaims contract. `makeHosts` returns two claimers that must exclude each other (two
 * processes on one ledger, or two hosts on one Redis).
 */
function sendClaimsContract(name: string, makeHosts: () => { first: SendClaims; second: SendClaims }): void {
  describe(`SendClaims contract: ${name}`, () => {
    const { first, second } = makeHosts();
    after(() => Promise.all([first.close(), second.close()]));
    const email = () => `<${randomUUID()}@mail.example>`;

    test('one of two claimers gets the claim, the other is told it is held', async () => {
      const id = email();
      assert.equal(await first.claim(id, 'owner-1', 60_000), 'claimed');
      assert.equal(await second.claim(id, 'owner-2', 60_000), 'held');
      assert.equal(await second.holder(id), 'owner-1');
      assert.equal(await first.claim(id, 'owner-1', 60_000), 'claimed', 'the owner renews its own claim');
    });

    test('after complete every claimer is told done, even without a claim', async () => {
      const id = email();
      assert.equal(await first.claim(id, 'owner-1', 60_000), 'claimed');
      await first.complete(id, { mode: 'sent', message_id: '<reply@acme.test>' });
      for (const [claims, owner] of [
        [first, 'owner-1'],
        [second, 'owner-2'],
        [second, 'owner-3'],
      ] as const) {
        assert.equal(await claims.claim(id, owner, 60_000), 'done');
      }
      const unclaimed = email();
      await second.complete(unclaimed, { mode: 'drafted', message_id: '<draft@acme.test>' });
      assert.equal(await first.claim(unclaimed, 'owner-1', 60_000), 'done');
    });

    test('an expired lease is taken over', async () => {
      const id = email();
      assert.equal(await first.claim(id, 'owner-1', 200), 'claimed');
      assert.equal(await second.claim(id, 'owner-2', 60_000), 'held');
      await delay(350);
      assert.equal(await second.claim(id, 'owner-2', 60_000), 'claimed');
      assert.equal(await first.claim(id, 'owner-1', 60_000), 'held');
    });

    test('a reply recorded transmitted by one claimer: the other, taking over, is told transmitted (finish, never send again) until complete', async () => {
      const id = email();
      assert.equal(await first.claim(id, 'owner-1', 200), 'claimed');
      await first.transmitted(id, '<reply@acme.test>');
      assert.equal(await second.claim(id, 'owner-2', 60_000), 'held', 'while the lease lives');
      await delay(350);
      assert.equal(await second.claim(id, 'owner-2', 60_000), 'transmitted');
      assert.equal(await second.release(id, 'owner-2'), true);
      assert.equal(await first.claim(id, 'owner-3', 60_000), 'transmitted', 'the fact outlives a released claim');
      await first.complete(id, { mode: 'sent', message_id: '<reply@acme.test>' });
      assert.equal(await second.claim(id, 'owner-2', 60_000), 'done');
    });

    test('a claim whose SMTP transaction began (transmitting): the one taking over is told transmitting (never send blindly) until withdrawn; transmitted wins over it', async () => {
      const id = email();
      assert.equal(await first.claim(id, 'owner-1', 200), 'claimed');
      await first.transmitting(id, '<reply@acme.test>');
      assert.equal(await second.claim(id, 'owner-2', 60_000), 'held', 'while the lease lives');
      await delay(350);
      assert.equal(await second.claim(id, 'owner-2', 60_000), 'transmitting', 'its sender died inside the transaction: the reply may have left');
      assert.equal(await second.release(id, 'owner-2'), true);
      assert.equal(await first.claim(id, 'owner-3', 60_000), 'transmitting', 'a released claim does not forget it');
      await first.transmissionFailed(id);
      assert.equal(await first.claim(id, 'owner-3', 60_000), 'claimed', 'withdrawn after a failure that proves nothing left: sendable again');
      await second.transmitting(id, '<reply@acme.test>');
      await second.transmitted(id, '<reply@acme.test>');
      await first.transmissionFailed(id);
      assert.equal(await first.claim(id, 'owner-3', 60_000), 'transmitted', 'a reply known to have left stays so');
      await first.complete(id, { mode: 'handed_off', message_id: '<reply@acme.test>' });
      assert.equal(await second.claim(id, 'owner-4', 60_000), 'done');
    });

    test('only the owner releases a claim', async () => {
      const id = email();
      assert.equal(await first.claim(id, 'owner-1', 60_000), 'claimed');
      assert.equal(await second.release(id, 'owner-2'), false);
      assert.equal(await second.claim(id, 'owner-2', 60_000), 'held');
      assert.equal(await first.release(id, 'owner-1'), true);
      assert.equal(await second.holder(id), undefined);
      assert.equal(await second.claim(id, 'owner-2', 60_000), 'claimed');
    });
  });
}

sendClaimsContract('local (two processes, one ledger file)', () => {
  const file = path.join(directory, 'shared-ledger.sqlite');
  return { first: createLocalClaims(new SendLedger(openSqlite(file))), second: createLocalClaims(new SendLedger(openSqlite(file))) };
});

sendClaimsContract('redis (two hosts, two ledgers, two connections)', () => {
  const make = (host: string) =>
    createRedisClaims({ url: SHARED_REDIS, keyPrefix: `${prefix}send:`, fallback: localClaimsOf(host), logger: capturingLogger().logger });
  return { first: make('host-a'), second: make('host-b') };
});

test('a done marker lives in Redis for 30 days and teaches a new host', async () => {
  const keyPrefix = `${prefix}done:`;
  const hostA = createRedisClaims({ url: SHARED_REDIS, keyPrefix, fallback: localClaimsOf('a'), logger: capturingLogger().logger });
  const newLedger = localClaimsOf('new');
  const newHost = createRedisClaims({ url: SHARED_REDIS, keyPrefix, fallback: newLedger, logger: capturingLogger().logger });
  const admin = new Redis(SHARED_REDIS);
  try {
    await hostA.complete('<done@mail.example>', { mode: 'sent', message_id: '<reply@acme.test>' });
    const [key] = await admin.keys(`${keyPrefix}*:done`);
    const ttlDays = (await admin.pttl(key)) / 86_400_000;
    assert.ok(ttlDays > 29.9 && ttlDays <= 30, `done marker lives ${ttlDays} days`);
    assert.equal(await newHost.claim('<done@mail.example>', 'owner-n', 60_000), 'done');
    assert.equal(await newLedger.claim('<done@mail.example>', 'other', 60_000), 'done', 'the new host recorded it locally');
  } finally {
    admin.disconnect();
    await Promise.all([hostA.close(), newHost.close()]);
  }
});

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A private redis-server on `port`, resolved once it accepts connections. */
async function startRedisServer(port: number): Promise<ChildProcess> {
  const server = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', '--dir', directory],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start: ${output}`)), 10_000);
    server.stdout?.on('data', (data: Buffer) => {
      output += data.toString();
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    });
    server.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${output}`)));
  });
  return server;
}

async function killRedisServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGKILL');
  await exited;
}

/** Runs `call` and fails when it takes longer than `limitMs`. */
async function within<T>(limitMs: number, call: () => Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await call();
  assert.ok(Date.now() - started < limitMs, `call took ${Date.now() - started} ms`);
  return result;
}

test('Redis killed mid-run: the cache degrades to misses, claims fall back to the local ledger, and both recover', async () => {
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let server = await startRedisServer(port);
  const { logger, lines } = capturingLogger();
  const cache = createRedisCache({ url, keyPrefix: 'cache:', logger });
  const hostALedger = localClaimsOf('a');
  const hostA = createRedisClaims({ url, keyPrefix: 'send:', fallback: hostALedger, logger });
  const hostB = createRedisClaims({ url, keyPrefix: 'send:', fallback: localClaimsOf('b'), logger });
  try {
    await cache.set('before', { ok: true }, 60);
    assert.deepEqual(await cache.get('before'), { ok: true });
    assert.equal(await hostA.claim('<email-1@x>', 'a-1', 60_000), 'claimed');
    assert.equal(await hostB.claim('<email-1@x>', 'b-1', 60_000), 'held', 'Redis excludes the other host');

    await killRedisServer(server);
    for (let round = 0; round < 5; round += 1) {
      assert.equal(await within(1000, () => cache.get('before')), undefined);
      await within(1000, () => cache.set(`during-${round}`, round, 60));
    }
    assert.equal(await within(1000, () => hostA.claim('<email-2@x>', 'a-2', 60_000)), 'claimed');
    assert.equal(await within(1000, () => hostA.claim('<email-2@x>', 'a-3', 60_000)), 'held', 'the local ledger still excludes senders of this host');
    await within(1000, () => hostA.complete('<email-2@x>', { mode: 'sent', message_id: '<reply-2@acme.test>' }));
    assert.equal(await hostA.claim('<email-2@x>', 'a-4', 60_000), 'done');
    assert.equal(await hostALedger.claim('<email-2@x>', 'a-5', 60_000), 'done', 'the completion is in the local ledger');
    // Host B made no call during the outage: its connection learns of it from the socket, a moment later.
    const claimWarnings = () =>
      lines.filter((line) => line.level === 'warn' && /unreachable; send claims fall back to the local ledger/.test(line.message)).length;
    for (const until = Date.now() + 3000; claimWarnings() < 2 && Date.now() < until;) await delay(20);
    const warnings = lines.filter((line) => line.level === 'warn').map((line) => line.message);
    assert.equal(warnings.filter((message) => /unreachable; caching is off/.test(message)).length, 1, `one cache warning: ${warnings.join(' | ')}`);
    assert.equal(
      warnings.filter((message) => /unreachable; send claims fall back to the local ledger/.test(message)).length,
      2,
      'one claims warning per host connection',
    );

    server = await startRedisServer(port);
    const deadline = Date.now() + 8000;
    while ((await cache.get('after')) === undefined && Date.now() < deadline) {
      await cache.set('after', 'back', 60);
      await delay(100);
    }
    assert.equal(await cache.get('after'), 'back', 'the cache works again once Redis is back');
    assert.ok(lines.some((line) => line.level === 'info' && line.message === 'Redis reachable again'));
    while (Date.now() < deadline && (await hostB.claim('<email-3@x>', 'b-3', 60_000)) !== 'claimed') await delay(100);
    assert.equal(await hostA.claim('<email-3@x>', 'a-6', 60_000), 'held', 'claims go through Redis again');
  } finally {
    await Promise.all([cache.close(), hostA.close(), hostB.close()]);
    await killRedisServer(server);
  }
});

test('Redis unreachable from the start: the first calls answer within a second', async () => {
  const { logger, lines } = capturingLogger();
  const cache = createRedisCache({ url: `redis://127.0.0.1:${await freePort()}`, logger });
  try {
    assert.equal(await within(1500, () => cache.get('anything')), undefined);
    await within(1000, () => cache.set('anything', 1, 60));
    assert.equal(lines.filter((line) => line.level === 'warn').length, 1);
  } finally {
    await cache.close();
  }
});
