import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { openDatabase } from '../../src/store/database.js';
import { SendLedger, utcDay } from '../../src/store/send-ledger.js';

function temporaryFile(): { file: string; cleanup: () => void } {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
  return { file: path.join(directory, 'ledger.sqlite'), cleanup: () => fs.rmSync(directory, { recursive: true, force: true }) };
}

/**
 * Code of a worker thread that opens its own connection to `file` and, once every worker is ready
 * (a shared counter), claims each email id and consumes quota. An eval worker does not run the
 * parent's `--import tsx`, so it registers tsx itself to load the TypeScript modules under test.
 */
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  (await import(workerData.tsxModule)).register();
  const { openDatabase } = await import(workerData.databaseModule);
  const { SendLedger } = await import(workerData.ledgerModule);
  const ledger = new SendLedger((await openDatabase(workerData.file)));
  const gate = new Int32Array(workerData.gate);
  Atomics.add(gate, 0, 1);
  while (Atomics.load(gate, 0) < workerData.workers) {}
  const claimed = [];
  let allowed = 0;
  for (let index = 0; index < workerData.emails; index += 1) {
    if ((await ledger.claim('<email-' + index + '@x>', workerData.owner, 60000)) === 'claimed') claimed.push(index);
    if ((await ledger.tryConsumeQuota('support@acme.test', workerData.quota)).allowed) allowed += 1;
  }
  parentPort.postMessage({ claimed, allowed });
})().catch((error) => { throw error; });
`;

function runWorker(data: Record<string, unknown>): Promise<{ claimed: number[]; allowed: number }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: data });
    worker.once('message', resolve);
    worker.once('error', reject);
  });
}

test('one ledger: claim, renew, hold, complete, then done', async () => {
  const ledger = new SendLedger(await openDatabase(':memory:'));
  assert.equal(await ledger.claim('<a@x>', 'sender-1', 60_000), 'claimed');
  assert.equal(await ledger.claim('<a@x>', 'sender-2', 60_000), 'held');
  assert.equal(await ledger.claim('<a@x>', 'sender-1', 60_000), 'claimed', 'the owner may renew its own lease');
  assert.equal((await ledger.get('<a@x>'))?.attempts, 1);
  await ledger.complete('<a@x>', { mode: 'auto', message_id: '<reply-a@acme>' });
  assert.equal(await ledger.claim('<a@x>', 'sender-1', 60_000), 'done');
  assert.equal(await ledger.claim('<a@x>', 'sender-2', 60_000), 'done');
  const record = await ledger.get('<a@x>');
  assert.equal(record?.status, 'sent');
  assert.equal(record?.message_id, '<reply-a@acme>');
  assert.equal(record?.mode, 'auto');
  assert.equal(await ledger.release('<a@x>', 'sender-1'), false, 'a completed send cannot be released');
  assert.equal(await ledger.get('<never@x>'), undefined);
});

test('release lets another sender claim at once; only the owner can release', async () => {
  const ledger = new SendLedger(await openDatabase(':memory:'));
  await ledger.claim('<b@x>', 'sender-1', 60_000);
  assert.equal(await ledger.release('<b@x>', 'sender-2'), false);
  assert.equal(await ledger.claim('<b@x>', 'sender-2', 60_000), 'held');
  assert.equal(await ledger.release('<b@x>', 'sender-1'), true);
  assert.equal(await ledger.claim('<b@x>', 'sender-2', 60_000), 'claimed');
  assert.equal((await ledger.get('<b@x>'))?.owner, 'sender-2');
  assert.equal((await ledger.get('<b@x>'))?.attempts, 2);
});

test('an expired lease is taken over by another owner', async () => {
  let now = Date.parse('2024-05-01T10:00:00Z');
  const ledger = new SendLedger(await openDatabase(':memory:'), { now: () => now });
  assert.equal(await ledger.claim('<c@x>', 'crashed-sender', 30_000), 'claimed');
  now += 29_999;
  assert.equal(await ledger.claim('<c@x>', 'sender-2', 30_000), 'held');
  now += 1;
  assert.equal(await ledger.claim('<c@x>', 'sender-2', 30_000), 'claimed');
  assert.equal(await ledger.claim('<c@x>', 'crashed-sender', 30_000), 'held', 'the old owner lost its claim');
  assert.equal((await ledger.get('<c@x>'))?.lease_expires_ms, now + 30_000);
});

test('a reply recorded transmitted (SMTP accepted it, its copy not filed) is answered transmitted to every later claim until complete', async () => {
  let now = Date.parse('2024-05-01T10:00:00Z');
  const ledger = new SendLedger(await openDatabase(':memory:'), { now: () => now });
  assert.equal(await ledger.claim('<t@x>', 'dying-sender', 30_000), 'claimed');
  await ledger.transmitted('<t@x>', '<reply-t@acme>');
  assert.equal(await ledger.claim('<t@x>', 'sender-2', 30_000), 'held', 'the lease still stops others while its owner lives');
  now += 30_000;
  assert.equal(await ledger.claim('<t@x>', 'sender-2', 30_000), 'transmitted', 'taken over: finish the send, never send again');
  assert.equal((await ledger.get('<t@x>'))?.owner, 'sender-2');
  assert.equal(await ledger.release('<t@x>', 'sender-2'), true, 'a failure while filing the copy gives the claim back');
  assert.equal(await ledger.claim('<t@x>', 'sender-3', 30_000), 'transmitted', 'and the fact stays');
  const record = await ledger.get('<t@x>');
  assert.equal(record?.transmitted_at, '2024-05-01T10:00:00.000Z');
  assert.equal(record?.message_id, '<reply-t@acme>');
  await ledger.complete('<t@x>', { mode: 'sent', message_id: '<reply-t@acme>' });
  assert.equal(await ledger.claim('<t@x>', 'sender-4', 30_000), 'done');
  await ledger.transmitted('<t@x>', '<reply-t@acme>');
  assert.equal((await ledger.get('<t@x>'))?.status, 'sent', 'a late record does not reopen a completed send');

  // Recorded without a claim of this ledger (a Redis claim taken elsewhere): the next claim still knows.
  await ledger.transmitted('<u@x>', '<reply-u@acme>');
  assert.equal(await ledger.claim('<u@x>', 'sender-1', 30_000), 'transmitted');
});

test("two ledgers on the same file: the second sees the first one's claim and completion", async () => {
  const { file, cleanup } = temporaryFile();
  try {
    const first = new SendLedger(await openDatabase(file));
    const second = new SendLedger(await openDatabase(file));
    assert.equal(await first.claim('<d@x>', 'sender-1', 60_000), 'claimed');
    assert.equal(await second.claim('<d@x>', 'sender-2', 60_000), 'held');
    await first.complete('<d@x>', { mode: 'draft', message_id: '<draft@acme>' });
    assert.equal(await second.claim('<d@x>', 'sender-2', 60_000), 'done');
  } finally {
    cleanup();
  }
});

test('concurrent claims and quota from two threads on the same file: each email claimed once, quota exact', async () => {
  const { file, cleanup } = temporaryFile();
  try {
    await (await openDatabase(file)).close(); // migrate once, so the race is about claims, not schema
    const emails = 300;
    const quota = 250;
    const gate = new SharedArrayBuffer(4);
    const common = {
      file,
      gate,
      workers: 2,
      emails,
      quota,
      tsxModule: import.meta.resolve('tsx/esm/api'),
      databaseModule: new URL('../../src/store/database.ts', import.meta.url).href,
      ledgerModule: new URL('../../src/store/send-ledger.ts', import.meta.url).href,
    };
    const results = await Promise.all([runWorker({ ...common, owner: 'sender-1' }), runWorker({ ...common, owner: 'sender-2' })]);
    const claimed = results.flatMap((result) => result.claimed).sort((left, right) => left - right);
    assert.deepEqual(
      claimed,
      Array.from({ length: emails }, (_, index) => index),
      'every email claimed exactly once',
    );
    assert.equal(results[0].allowed + results[1].allowed, quota, 'the quota is never exceeded nor under-counted');
    assert.equal(await new SendLedger(await openDatabase(file)).quotaRemaining('support@acme.test', quota), 0);
  } finally {
    cleanup();
  }
});

test('daily quota counts per mailbox and resets on the next UTC day', async () => {
  const ledger = new SendLedger(await openDatabase(':memory:'));
  const lateEvening = new Date('2024-05-01T23:59:59.999Z');
  const nextMorning = new Date('2024-05-02T00:00:00.000Z');
  assert.deepEqual(await ledger.tryConsumeQuota('a@acme.test', 2, lateEvening), { allowed: true, used: 1, remaining: 1 });
  assert.deepEqual(await ledger.tryConsumeQuota('a@acme.test', 2, lateEvening), { allowed: true, used: 2, remaining: 0 });
  assert.deepEqual(await ledger.tryConsumeQuota('a@acme.test', 2, lateEvening), { allowed: false, used: 2, remaining: 0 });
  assert.equal(await ledger.quotaRemaining('b@acme.test', 2, lateEvening), 2, 'another mailbox has its own quota');
  assert.equal(await ledger.quotaRemaining('a@acme.test', 2, nextMorning), 2);
  assert.deepEqual(await ledger.tryConsumeQuota('a@acme.test', 2, nextMorning), { allowed: true, used: 1, remaining: 1 });
  assert.equal(await ledger.quotaRemaining('a@acme.test', 2, lateEvening), 0, 'the previous day stays spent');
  assert.equal(await ledger.refundQuota('a@acme.test', nextMorning), true);
  assert.equal(await ledger.quotaRemaining('a@acme.test', 2, nextMorning), 2);
  assert.equal(await ledger.refundQuota('a@acme.test', nextMorning), false, 'nothing left to give back');
  assert.equal(utcDay(new Date('2024-05-01T23:30:00-02:00')), '2024-05-02');
});

test('quota uses the injected clock by default', async () => {
  let now = Date.parse('2024-05-01T23:59:00Z');
  const ledger = new SendLedger(await openDatabase(':memory:'), { now: () => now });
  assert.equal((await ledger.tryConsumeQuota('a@acme.test', 1)).allowed, true);
  assert.equal((await ledger.tryConsumeQuota('a@acme.test', 1)).allowed, false);
  now += 60_000;
  assert.equal((await ledger.tryConsumeQuota('a@acme.test', 1)).allowed, true);
});
