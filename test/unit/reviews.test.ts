import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { buildEvent } from '../../src/messaging/events.js';
import type { ToSendMessage } from '../../src/pipeline/messages.js';
import { applyEvent } from '../../src/roles/recorder.js';
import { ActivityLog } from '../../src/store/activity-log.js';
import { openDatabase } from '../../src/store/database.js';
import { DocumentRegistry } from '../../src/store/documents.js';
import { ReviewConflictError, ReviewNotFoundError, ReviewQueue } from '../../src/store/reviews.js';
import { UNCHECKED_RECIPIENT } from '../../src/pipeline/messages.js';
import { RagmailError } from '../../src/lib/errors.js';
import { approvalAlreadySent, verifyApproval } from '../../src/features/reviews/verify.js';

const ACME = 'support@acme.example';
const GLOBEX = 'support@globex.example';

/** A drafted `emails.to_send` message of `emailId` in mailbox `agentEmail`. */
function drafted(emailId: string, agentEmail = ACME, body = 'Hold the reset button for 10 seconds.'): ToSendMessage {
  return {
    message_id: `message-${emailId}`,
    timestamp: '2024-05-01T10:00:00.000Z',
    original_message_id: null,
    email: {
      email_id: emailId,
      thread_id: null,
      agent_email: agentEmail,
      mailbox_ref: `ref-${emailId}`,
      from: 'dana@example.net',
      to: [agentEmail],
      subject: 'Router',
      body: 'How do I reset it?',
      message_id_header: `<message.${emailId}>`,
      references: [],
      received_at: '2024-05-01T09:59:00.000Z',
      priority: 5,
      reply_recipient: 'dana@example.net',
      recipient_problem: null,
    },
    classification: { is_support_inquiry: true, category: 'technical', confidence: 0.6, reasoning: 'test', provider: 'test', model: 'test' },
    generated_response: { subject: 'Re: Router', body, handoff: false, provider: 'test', model: 'test', top_score: 0.8 },
    context_used: [{ document_id: 'doc-1', source: 'manual.pdf', page: 3, chunk_index: 0, similarity_score: 0.8, text: 'Hold the reset button.' }],
  };
}

function temporaryFile(): { file: string; cleanup: () => void } {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
  return { file: path.join(directory, 'reviews.sqlite'), cleanup: () => fs.rmSync(directory, { recursive: true, force: true }) };
}

test('open creates a pending review; a redelivered draft refreshes it, a decided one stays as decided', async () => {
  const reviews = new ReviewQueue(await openDatabase(':memory:'));
  assert.equal(await reviews.open(drafted('a@x'), 'review mode', '2024-05-01T10:00:01.000Z'), true);
  const review = await reviews.get('a@x');
  assert.equal(review?.status, 'pending');
  assert.equal(review?.reason, 'review mode');
  assert.equal(review?.reply_body, 'Hold the reset button for 10 seconds.');
  assert.deepEqual(review?.message, drafted('a@x'), 'the whole message is kept, passages included');
  assert.equal(review?.edited, false);

  assert.equal(await reviews.open(drafted('a@x', ACME, 'A newer draft.'), 'review mode'), true, 'a pending review is refreshed');
  assert.equal((await reviews.get('a@x'))?.reply_body, 'A newer draft.');
  assert.equal((await reviews.get('a@x'))?.created_at, '2024-05-01T10:00:01.000Z', 'refreshing keeps when it was opened');
  assert.equal(await reviews.count(), 1);

  await reviews.decide('a@x', { action: 'rejected', by: 'alice', note: 'wrong product' });
  assert.equal(await reviews.open(drafted('a@x', ACME, 'Yet another.'), 'review mode'), false);
  const decided = await reviews.get('a@x');
  assert.equal(decided?.status, 'rejected');
  assert.equal(decided?.reply_body, 'A newer draft.', 'a decided review is not overwritten by a late draft');
});

test('decide records who, when and the edit; a second decision is a conflict; unknown ids are not found', async () => {
  const reviews = new ReviewQueue(await openDatabase(':memory:'));
  await reviews.open(drafted('a@x'), 'review mode');
  await reviews.open(drafted('b@x'), 'review mode');
  const approved = await reviews.decide('a@x', { action: 'approved', by: 'alice', at: '2024-05-01T11:00:00.000Z', body: 'Edited reply.' });
  assert.deepEqual(
    [approved.status, approved.decided_by, approved.decided_at, approved.reply_body, approved.edited],
    ['approved', 'alice', '2024-05-01T11:00:00.000Z', 'Edited reply.', true],
  );
  const unedited = await reviews.decide('b@x', { action: 'approved', by: 'bob', body: 'Hold the reset button for 10 seconds.' });
  assert.equal(unedited.edited, false, 'the generated body sent back unchanged is not an edit');

  await assert.rejects(
    async () => await reviews.decide('a@x', { action: 'rejected', by: 'bob' }),
    (error: unknown) => {
      assert.ok(error instanceof ReviewConflictError);
      assert.equal(error.code, 'review_conflict');
      assert.equal(error.review.decided_by, 'alice');
      assert.match(error.message, /already approved by alice/);
      return true;
    },
  );
  assert.equal((await reviews.get('a@x'))?.reply_body, 'Edited reply.', 'the losing decision changed nothing');
  await assert.rejects(async () => await reviews.decide('missing@x', { action: 'approved', by: 'alice' }), ReviewNotFoundError);
});

test('revertToPending undoes exactly the given decision, not a later one', async () => {
  const reviews = new ReviewQueue(await openDatabase(':memory:'));
  await reviews.open(drafted('a@x'), 'review mode');
  const approved = await reviews.decide('a@x', { action: 'approved', by: 'alice', body: 'Edited.' });
  assert.equal(await reviews.revertToPending(approved), true);
  const pending = await reviews.get('a@x');
  assert.deepEqual(
    [pending?.status, pending?.decided_by, pending?.decided_at, pending?.reply_body, pending?.edited],
    ['pending', null, null, 'Hold the reset button for 10 seconds.', false],
  );
  const later = await reviews.decide('a@x', { action: 'rejected', by: 'bob' });
  assert.equal(await reviews.revertToPending(approved), false, 'a stale undo leaves the newer decision');
  assert.equal((await reviews.get('a@x'))?.status, 'rejected');
  assert.equal(later.decided_by, 'bob');
});

test('markSent moves an approved review to sent once; a pending, a rejected and an unknown one are left alone', async () => {
  const reviews = new ReviewQueue(await openDatabase(':memory:'));
  await reviews.open(drafted('a@x'), 'review mode');
  await reviews.open(drafted('b@x'), 'review mode');
  await reviews.open(drafted('p@x'), 'review mode');
  // Nobody decided it: a `sent` must not take it away from the reviewers (nor make it look sendable).
  assert.equal(await reviews.markSent('p@x'), false);
  assert.deepEqual([(await reviews.get('p@x'))?.status, (await reviews.get('p@x'))?.sent_at], ['pending', null]);
  await reviews.decide('a@x', { action: 'approved', by: 'alice' });
  await reviews.decide('b@x', { action: 'rejected', by: 'alice' });
  assert.equal(await reviews.markSent('a@x', '2024-05-01T12:00:00.000Z'), true);
  const sent = await reviews.get('a@x');
  assert.deepEqual([sent?.status, sent?.sent_at, sent?.decided_by], ['sent', '2024-05-01T12:00:00.000Z', 'alice']);
  assert.equal(await reviews.markSent('a@x'), false, 'a second sent event changes nothing');
  assert.equal((await reviews.get('a@x'))?.sent_at, '2024-05-01T12:00:00.000Z');
  assert.equal(await reviews.markSent('b@x'), false);
  assert.equal((await reviews.get('b@x'))?.status, 'rejected');
  assert.equal(await reviews.markSent('missing@x'), false);
  await assert.rejects(
    async () => await reviews.decide('a@x', { action: 'approved', by: 'bob' }),
    ReviewConflictError,
    'a sent review cannot be decided again',
  );
});

test('list and count filter by mailbox and status, oldest first, with limit and offset', async () => {
  const reviews = new ReviewQueue(await openDatabase(':memory:'));
  await reviews.open(drafted('a3@x'), 'review mode', '2024-05-01T10:03:00.000Z');
  await reviews.open(drafted('a1@x'), 'review mode', '2024-05-01T10:01:00.000Z');
  await reviews.open(drafted('g2@x', GLOBEX), 'nothing relevant', '2024-05-01T10:02:00.000Z');
  await reviews.open(drafted('a4@x'), 'review mode', '2024-05-01T10:04:00.000Z');
  await reviews.decide('a4@x', { action: 'rejected', by: 'alice' });

  const ids = (list: { email_id: string }[]) => list.map((review) => review.email_id);
  assert.deepEqual(ids(await reviews.list()), ['a1@x', 'g2@x', 'a3@x', 'a4@x']);
  assert.deepEqual(ids(await reviews.list({ status: 'pending' })), ['a1@x', 'g2@x', 'a3@x']);
  assert.deepEqual(ids(await reviews.list({ status: 'pending', agentEmail: ACME })), ['a1@x', 'a3@x']);
  assert.deepEqual(ids(await reviews.list({ status: 'rejected' })), ['a4@x']);
  assert.deepEqual(ids(await reviews.list({ agentEmail: GLOBEX })), ['g2@x']);
  assert.deepEqual(ids(await reviews.list({ limit: 2, offset: 1 })), ['g2@x', 'a3@x']);
  assert.deepEqual(
    [
      await reviews.count(),
      await reviews.count({ status: 'pending' }),
      await reviews.count({ status: 'pending', agentEmail: ACME }),
      await reviews.count({ status: 'sent' }),
    ],
    [4, 3, 2, 0],
  );
});

/**
 * A worker thread with its own connection that decides every review as `by`, once all workers are
 * ready. It waits at the gate on Atomics.wait, with a deadline, so a thread that died while loading
 * fails the others instead of leaving them waiting forever.
 */
const WORKER_SOURCE = `
const { workerData, parentPort } = require('node:worker_threads');
(async () => {
  (await import(workerData.tsxModule)).register();
  const { openDatabase } = await import(workerData.databaseModule);
  const { ReviewQueue, ReviewConflictError } = await import(workerData.reviewsModule);
  const reviews = new ReviewQueue((await openDatabase(workerData.file)));
  const gate = new Int32Array(workerData.gate);
  Atomics.add(gate, 0, 1);
  Atomics.notify(gate, 0);
  const deadline = Date.now() + workerData.gateTimeoutMs;
  for (let ready = Atomics.load(gate, 0); ready < workerData.workers; ready = Atomics.load(gate, 0)) {
    if (Date.now() >= deadline) throw new Error('only ' + ready + ' of ' + workerData.workers + ' workers got ready');
    Atomics.wait(gate, 0, ready, deadline - Date.now());
  }
  const won = [];
  let conflicts = 0;
  for (let index = 0; index < workerData.count; index += 1) {
    try {
      (await reviews.decide('email-' + index + '@x', { action: workerData.action, by: workerData.by }));
      won.push(index);
    } catch (error) {
      if (!(error instanceof ReviewConflictError)) throw error;
      conflicts += 1;
    }
  }
  parentPort.postMessage({ won, conflicts });
})().catch((error) => { throw error; });
`;

/** What one reviewer thread won, and how often the other had got there first. */
interface Decisions {
  won: number[];
  conflicts: number;
}

interface ReviewerThread {
  worker: Worker;
  /** Its decisions; rejects when the thread fails or ends without answering. */
  result: Promise<Decisions>;
}

function startReviewer(data: Record<string, unknown>): ReviewerThread {
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: data });
  const result = new Promise<Decisions>((resolve, reject) => {
    worker.once('message', resolve);
    worker.once('error', reject);
    // After a message this settles nothing; before one, the thread died or returned without answering.
    worker.once('exit', (code) => reject(new Error(`reviewer thread ${String(data.by)} exited with code ${code} before answering`)));
  });
  return { worker, result };
}

test('two reviewers deciding the same reviews at once from two threads: each review decided exactly once', { timeout: 120_000 }, async () => {
  const { file, cleanup } = temporaryFile();
  const threads: ReviewerThread[] = [];
  try {
    const count = 200;
    const setup = new ReviewQueue(await openDatabase(file));
    for (let index = 0; index < count; index += 1) await setup.open(drafted(`email-${index}@x`), 'review mode');
    const common = {
      file,
      gate: new SharedArrayBuffer(4),
      workers: 2,
      count,
      gateTimeoutMs: 60_000,
      tsxModule: import.meta.resolve('tsx/esm/api'),
      databaseModule: new URL('../../src/store/database.ts', import.meta.url).href,
      reviewsModule: new URL('../../src/store/reviews.ts', import.meta.url).href,
    };
    threads.push(startReviewer({ ...common, by: 'alice', action: 'approved' }), startReviewer({ ...common, by: 'bob', action: 'rejected' }));
    const [alice, bob] = await Promise.all([threads[0]!.result, threads[1]!.result]);
    const won = [...alice.won, ...bob.won].sort((left, right) => left - right);
    assert.deepEqual(
      won,
      Array.from({ length: count }, (_, index) => index),
      'every review won by exactly one reviewer',
    );
    assert.equal(alice.conflicts + bob.conflicts, count, 'the other reviewer got a conflict every time');
    const reviews = new ReviewQueue(await openDatabase(file));
    for (const index of alice.won)
      assert.deepEqual([(await reviews.get(`email-${index}@x`))?.status, (await reviews.get(`email-${index}@x`))?.decided_by], ['approved', 'alice']);
    for (const index of bob.won)
      assert.deepEqual([(await reviews.get(`email-${index}@x`))?.status, (await reviews.get(`email-${index}@x`))?.decided_by], ['rejected', 'bob']);
  } finally {
    // A thread still loading or waiting at the gate would keep the file from ending.
    await Promise.all(threads.map((thread) => thread.worker.terminate()));
    cleanup();
  }
});

test('the recorder on a database of its own: drafted opens, review_approved decides, sent closes; events read twice change nothing', async () => {
  const database = await openDatabase(':memory:');
  const warnings: string[] = [];
  const stores = {
    activity: new ActivityLog(database),
    documents: new DocumentRegistry(database),
    reviews: new ReviewQueue(database),
    logger: {
      warn: (message: string) => {
        warnings.push(message);
      },
    },
  };
  const message = drafted('a@x');
  const at = (second: number) => `2024-05-01T10:00:0${second}.000Z`;
  const email = { email_id: 'a@x', agent_email: ACME };
  const events = [
    { ...buildEvent('sender', { stage: 'drafted', ...email, detail: { mode: 'review', reason: 'review mode', message } }), timestamp: at(1) },
    { ...buildEvent('api', { stage: 'review_approved', ...email, detail: { by: 'alice', edited: true, body: 'Edited.' } }), timestamp: at(2) },
    { ...buildEvent('sender', { stage: 'sent', ...email, detail: { mode: 'review', approved_by: 'alice', edited: true } }), timestamp: at(3) },
  ];
  for (const event of [...events, ...events]) await applyEvent(event, stores);
  const review = await stores.reviews.get('a@x');
  assert.deepEqual(
    [review?.status, review?.decided_by, review?.decided_at, review?.reply_body, review?.edited, review?.sent_at, review?.created_at],
    ['sent', 'alice', at(2), 'Edited.', true, at(3), at(1)],
  );
  assert.equal((await stores.activity.getEmail('a@x'))?.state, 'sent');
  assert.equal((await stores.activity.timeline('a@x')).length, 3, 'each event recorded once');

  // A rejection read from the stream ends the email as rejected; a draft event without its message opens nothing.
  const other = { email_id: 'b@x', agent_email: ACME };
  await applyEvent(
    { ...buildEvent('sender', { stage: 'drafted', ...other, detail: { mode: 'review', reason: 'review mode', message: drafted('b@x') } }), timestamp: at(4) },
    stores,
  );
  await applyEvent({ ...buildEvent('api', { stage: 'review_rejected', ...other, detail: { by: 'bob', note: 'off topic' } }), timestamp: at(5) }, stores);
  assert.deepEqual([(await stores.reviews.get('b@x'))?.status, (await stores.reviews.get('b@x'))?.note], ['rejected', 'off topic']);
  assert.deepEqual(
    [(await stores.activity.getEmail('b@x'))?.state, (await stores.activity.getEmail('b@x'))?.outcome],
    ['rejected', 'rejected by bob: off topic'],
  );
  await applyEvent(buildEvent('sender', { stage: 'handed_off', email_id: 'c@x', agent_email: ACME, detail: { mode: 'review' } }), stores);
  assert.equal(await stores.reviews.get('c@x'), undefined);
  assert.equal(warnings.length, 1);
});

test('forged drafted events open no review: another role, another email or another mailbox in the message', async () => {
  const database = await openDatabase(':memory:');
  const warnings: string[] = [];
  const stores = {
    activity: new ActivityLog(database),
    documents: new DocumentRegistry(database),
    reviews: new ReviewQueue(database),
    logger: {
      warn: (message: string) => {
        warnings.push(message);
      },
    },
  };
  // The event names one customer's email; its message replies to another's.
  const forged = [
    buildEvent('poller', { stage: 'drafted', email_id: 'a@x', agent_email: ACME, detail: { reason: 'review mode', message: drafted('a@x') } }),
    buildEvent('sender', { stage: 'drafted', email_id: 'b@x', agent_email: ACME, detail: { reason: 'review mode', message: drafted('other@x') } }),
    buildEvent('sender', { stage: 'handed_off', email_id: 'c@x', agent_email: ACME, detail: { reason: 'review mode', message: drafted('c@x', GLOBEX) } }),
  ];
  for (const event of forged) await applyEvent(event, stores);
  assert.deepEqual(await Promise.all(['a@x', 'b@x', 'c@x', 'other@x'].map((id) => stores.reviews.get(id))), [undefined, undefined, undefined, undefined]);
  assert.equal(warnings.length, 3);
  assert.match(warnings[0], /role "poller", not the sender/);
  assert.match(warnings[1], /another email/);
  assert.match(warnings[2], /another mailbox/);

  // A decision is the api's: one published under another role is ignored.
  await applyEvent(
    buildEvent('sender', { stage: 'drafted', email_id: 'd@x', agent_email: ACME, detail: { reason: 'review mode', message: drafted('d@x') } }),
    stores,
  );
  await applyEvent(buildEvent('classifier', { stage: 'review_approved', email_id: 'd@x', agent_email: ACME, detail: { by: 'mallory' } }), stores);
  assert.equal((await stores.reviews.get('d@x'))?.status, 'pending');
  assert.match(warnings[3], /review_approved event from role "classifier"/);
});

test('a review shows the recipient the reply goes to, or why there is none (older drafts: unchecked)', async () => {
  const database = await openDatabase(':memory:');
  const reviews = new ReviewQueue(database);
  await reviews.open(drafted('a@x'), 'review mode');
  assert.deepEqual([(await reviews.get('a@x'))?.recipient, (await reviews.get('a@x'))?.recipient_problem], ['dana@example.net', null]);
  const listed = drafted('b@x');
  listed.email = { ...listed.email, reply_recipient: null, recipient_problem: 'Reply-To names 200 addresses' };
  await reviews.open(listed, 'no single valid recipient');
  assert.deepEqual([(await reviews.get('b@x'))?.recipient, (await reviews.get('b@x'))?.recipient_problem], [null, 'Reply-To names 200 addresses']);
  const { reply_recipient: _recipient, recipient_problem: _problem, ...olderEmail } = drafted('c@x').email;
  await reviews.open({ ...drafted('c@x'), email: olderEmail as ToSendMessage['email'] }, 'review mode');
  assert.deepEqual([(await reviews.get('c@x'))?.recipient, (await reviews.get('c@x'))?.recipient_problem], [null, UNCHECKED_RECIPIENT]);
});

test('verifyApproval: only a reply the store holds as approved, exactly as approved, passes', async () => {
  const reviews = new ReviewQueue(await openDatabase(':memory:'));
  const approval = { approved_by: 'alice', approved_at: '2024-05-01T10:01:00.000Z', edited: false };
  const claim = (message: ToSendMessage): ToSendMessage => ({ ...message, review: approval });
  const refused = (message: ToSendMessage, reason: RegExp) =>
    assert.rejects(
      () => verifyApproval(claim(message), reviews),
      (error: unknown) => {
        assert.ok(error instanceof RagmailError);
        assert.deepEqual([error.code, error.retryable], ['review_unverified', false]);
        assert.match(error.message, reason);
        return true;
      },
    );
  await refused(drafted('a@x'), /holds no review/);
  await reviews.open(drafted('a@x'), 'review mode');
  await refused(drafted('a@x'), /review is pending/);
  await reviews.decide('a@x', { action: 'approved', by: 'alice', body: 'Edited by Alice.' });
  await refused(drafted('a@x'), /body differs/);
  const approved = drafted('a@x', ACME, 'Edited by Alice.');
  assert.equal((await verifyApproval(claim(approved), reviews)).decided_by, 'alice');
  await refused({ ...approved, email: { ...approved.email, reply_recipient: 'mallory@evil.example' } }, /recipient differs/);
  await refused({ ...approved, generated_response: { ...approved.generated_response, subject: 'Your invoice' } }, /subject differs/);
  await reviews.open(drafted('b@x'), 'review mode');
  await reviews.decide('b@x', { action: 'rejected', by: 'bob' });
  await refused(drafted('b@x'), /review is rejected/);

  // Once sent, the approval is carried out: verifying it again refuses, and the sender sees it as already sent.
  assert.equal(await approvalAlreadySent(claim(approved), reviews), false, 'approved, not yet sent');
  await reviews.markSent('a@x');
  await refused(approved, /review is sent, not approved/);
  assert.equal(await approvalAlreadySent(claim(approved), reviews), true);
  assert.equal(
    await approvalAlreadySent(claim({ ...approved, email: { ...approved.email, reply_recipient: 'mallory@evil.example' } }), reviews),
    false,
    'another reply is not the sent one',
  );
  assert.equal(await approvalAlreadySent(claim(drafted('b@x')), reviews), false, 'a rejected review was never sent');
});

test('the recorder: a sent event never closes a pending review; one read before its approval closes it once approved', async () => {
  const database = await openDatabase(':memory:');
  const warnings: string[] = [];
  const stores = {
    activity: new ActivityLog(database),
    documents: new DocumentRegistry(database),
    reviews: new ReviewQueue(database),
    logger: {
      warn: (message: string) => {
        warnings.push(message);
      },
    },
  };
  const at = (second: number) => `2024-05-01T10:00:0${second}.000Z`;
  const email = { email_id: 'a@x', agent_email: ACME };
  await applyEvent(
    { ...buildEvent('sender', { stage: 'drafted', ...email, detail: { reason: 'review mode', message: drafted('a@x') } }), timestamp: at(1) },
    stores,
  );
  await applyEvent(buildEvent('poller', { stage: 'sent', ...email }), stores);
  assert.equal((await stores.reviews.get('a@x'))?.status, 'pending', 'a sent from another role is ignored');
  assert.match(warnings[0] ?? '', /sent event from role "poller", not the sender/);
  // The API publishes the approved reply before its decision's event: the sender's `sent` can come first.
  await applyEvent({ ...buildEvent('sender', { stage: 'sent', ...email, detail: { mode: 'review' } }), timestamp: at(3) }, stores);
  assert.equal((await stores.reviews.get('a@x'))?.status, 'pending', 'nobody approved it yet');
  await applyEvent({ ...buildEvent('api', { stage: 'review_approved', ...email, detail: { by: 'alice' } }), timestamp: at(2) }, stores);
  assert.deepEqual(
    [(await stores.reviews.get('a@x'))?.status, (await stores.reviews.get('a@x'))?.decided_by, (await stores.reviews.get('a@x'))?.sent_at],
    ['sent', 'alice', at(3)],
  );
});

test("the recorder registers a document path only from the uploader's queued event", async () => {
  const database = await openDatabase(':memory:');
  const warnings: string[] = [];
  const stores = {
    activity: new ActivityLog(database),
    documents: new DocumentRegistry(database),
    reviews: new ReviewQueue(database),
    logger: {
      warn: (message: string) => {
        warnings.push(message);
      },
    },
  };
  const queued = (role: string, documentId: string) =>
    buildEvent(role, {
      stage: 'queued',
      document_id: documentId,
      agent_email: ACME,
      detail: { filename: 'manual.pdf', path: '/srv/ragmail/uploads' },
    });
  await applyEvent(queued('poller', 'forged'), stores);
  assert.equal(await stores.documents.get('forged'), undefined);
  assert.match(warnings[0] ?? '', /queued event from role "poller", not the upload; ignored/);
  await applyEvent(queued('upload', 'real'), stores);
  assert.equal((await stores.documents.get('real'))?.status, 'queued');
});
