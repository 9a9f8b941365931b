/**
 * The operator API (`api` role) over HTTP against the real RabbitMQ: bearer tokens, the upload
 * checks, a manual going from upload to `ingested` and being re-ingested and deleted, the email
 * timeline, review decisions that really send (or not), the dead-letter queue and the broker view.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { buildEvent } from '../../src/messaging/events.js';
import { EXCHANGES, QUEUES, ROUTING_KEYS } from '../../src/messaging/topology.js';
import { ROLE_NAMES } from '../../src/app/registry.js';
import { loadConfig } from '../../src/app/config.js';
import { loadTokens, tokenFileOf } from '../../src/http/api/tokens.js';
import type { DocumentRecord } from '../../src/store/documents.js';
import type { Review } from '../../src/store/reviews.js';
import { waitFor } from '../helpers/broker.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { makePdf } from '../helpers/pdf-fixtures.js';
import { ACME, GLOBEX, classifyMessage, deliverEmail, openChannel, readReplies, startPipeline, withPipeline, type Pipeline } from '../helpers/pipeline.js';

/** A 1×1 PNG: the bytes of an image, whatever its name says. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');
const MANUAL_PAGES = [
  'X200 router manual. Reset the admin password: hold the reset button on the back for 10 seconds.',
  'Page two: the default password is printed on the label under the router.',
];

interface Answer<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Headers;
}

/** One API call; the pipeline's token unless `token` says otherwise (null: no Authorization header). */
async function call<T = Record<string, unknown>>(
  pipeline: Pipeline,
  method: string,
  route: string,
  options: { token?: string | null; json?: unknown; form?: FormData } = {},
): Promise<Answer<T>> {
  const token = options.token === undefined ? pipeline.apiToken : options.token;
  const headers: Record<string, string> = token === null ? {} : { authorization: `Bearer ${token}` };
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`${pipeline.apiUrl}${route}`, {
    method,
    headers,
    body: options.form ?? (options.json === undefined ? undefined : JSON.stringify(options.json)),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    /* not JSON: a static file */
  }
  return { status: response.status, body: body as T, headers: response.headers };
}

/** A multipart upload: `agent_email` (when given) first, then each file as `file`. */
function uploadForm(agentEmail: string | undefined, files: Array<{ name: string; data: Buffer }>, emailLast = false): FormData {
  const form = new FormData();
  if (agentEmail !== undefined && !emailLast) form.append('agent_email', agentEmail);
  for (const file of files) form.append('file', new Blob([new Uint8Array(file.data)]), file.name);
  if (agentEmail !== undefined && emailLast) form.append('agent_email', agentEmail);
  return form;
}

/** Waits until `check` gives a value and returns it. */
async function eventually<T>(check: () => Promise<T | undefined>, options: { timeoutMs?: number; intervalMs?: number; what: string }): Promise<T> {
  const value = await waitFor(check, options);
  if (value === undefined) throw new Error(`no ${options.what}`);
  return value;
}

async function documentOf(pipeline: Pipeline, documentId: string): Promise<DocumentRecord | undefined> {
  const { body } = await call<{ documents: DocumentRecord[] }>(pipeline, 'GET', `/api/documents?agent_email=${encodeURIComponent(ACME)}`);
  return body.documents.find((document) => document.document_id === documentId);
}

async function waitForStatus(pipeline: Pipeline, documentId: string, status: string): Promise<DocumentRecord> {
  return eventually(
    async () => {
      const document = await documentOf(pipeline, documentId);
      return document?.status === status ? document : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 200, what: `document ${documentId} ${status}` },
  );
}

test('every /api route needs a valid bearer token (401 with www-authenticate otherwise) and /api/me names its holder', async () => {
  // 14 wrong tokens below: more than the default throttle of failed sign-ins lets through as 401s.
  await withPipeline(['api'], { API_MAX_FAILED_SIGN_INS: '100' }, async (pipeline) => {
    assert.match(pipeline.apiUrl ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    const routes: Array<[string, string]> = [
      ['GET', '/api/me'],
      ['GET', '/api/documents'],
      ['GET', '/api/emails'],
      ['GET', '/api/dead-letters'],
      ['POST', '/api/reviews/x/approve'],
      ['DELETE', '/api/documents/x'],
      ['GET', '/api/no-such-route'],
    ];
    for (const [method, route] of routes) {
      for (const token of [null, 'wrong-token', `${pipeline.apiToken}x`]) {
        const answer = await call(pipeline, method, route, { token });
        assert.equal(answer.status, 401, `${method} ${route} with ${token === null ? 'no token' : 'a wrong token'}`);
        assert.equal(answer.headers.get('www-authenticate'), 'Bearer');
        assert.equal(answer.body.code, 'unauthorized');
        assert.equal(typeof answer.body.error, 'string');
      }
    }
    assert.deepEqual((await call(pipeline, 'GET', '/api/me')).body, { name: 'tester' });
    for (const route of ['/api/documents', '/api/emails', '/api/reviews', '/api/mailboxes', '/api/overview']) {
      const answer = await call(pipeline, 'GET', route);
      assert.equal(answer.status, 200, route);
      assert.equal(answer.headers.get('cache-control'), 'no-store');
    }
    const unknown = await call(pipeline, 'GET', '/api/no-such-route');
    assert.deepEqual([unknown.status, unknown.body.code], [404, 'not_found']);
    // The page holds no data: it is served without a token.
    const page = await call(pipeline, 'GET', '/', { token: null });
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /text\/html/);
  });
});

test('without API_TOKENS a token for admin is generated into <DATA_DIR>/api-token (mode 0600) and reused', async () => {
  await withPipeline(['api'], { API_TOKENS: '' }, async (pipeline) => {
    const file = tokenFileOf(pipeline.vhost.config);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok((pipeline.apiToken ?? '').length >= 32, 'a long random token');
    assert.deepEqual((await call(pipeline, 'GET', '/api/me')).body, { name: 'admin' });
    const again = await loadTokens(pipeline.vhost.config);
    assert.deepEqual([again.generated, again.tokens], [false, [{ name: 'admin', token: pipeline.apiToken }]]);
  });
});

test('API_TOKENS: name=token pairs; a malformed or repeated entry is refused without quoting the secret', async () => {
  const secret = 's3cret-1-of-24-characters';
  assert.deepEqual(loadConfig({ API_TOKENS: `alice=${secret}, bob.k@acme = dG9rZW4tb2YtYm9iLWF0LWFjbWU==` }).apiTokens, [
    { name: 'alice', token: secret },
    { name: 'bob.k@acme', token: 'dG9rZW4tb2YtYm9iLWF0LWFjbWU==' },
  ]);
  assert.throws(
    () => loadConfig({ API_TOKENS: `alice=${secret},just-a-secret` }),
    (error: Error) => /API_TOKENS: entry 2 is not name=token/.test(error.message) && !error.message.includes('just-a-secret'),
  );
  assert.throws(() => loadConfig({ API_TOKENS: `alice=${secret},alice=${secret}-2` }), /the name alice is given twice/);
});

test('a taken API_PORT stops the boot with a message naming API_HOST and API_PORT', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = blocker.address() as { port: number };
    await assert.rejects(startPipeline(['api'], { API_PORT: String(port) }), /Cannot serve the API on 127\.0\.0\.1:\d+ \(API_HOST, API_PORT/);
  } finally {
    await new Promise((resolve) => blocker.close(resolve));
  }
});

test('uploads are checked: size limit 413, content sniffed (PNG as .pdf 415, PDF as .bin accepted), empty 400, agent_email required first, names kept inside UPLOAD_DIR', async () => {
  await withPipeline(['api'], { API_MAX_UPLOAD_BYTES: '20000' }, async (pipeline) => {
    const pdf = await makePdf(MANUAL_PAGES);
    const upload = (agentEmail: string | undefined, files: Array<{ name: string; data: Buffer }>, emailLast = false) =>
      call<{ documents?: DocumentRecord[]; code?: string }>(pipeline, 'POST', '/api/documents', { form: uploadForm(agentEmail, files, emailLast) });

    const tooLarge = await upload(ACME, [{ name: 'big.pdf', data: Buffer.concat([pdf, Buffer.alloc(25_000, 0x20)]) }]);
    assert.deepEqual([tooLarge.status, tooLarge.body.code], [413, 'upload_too_large']);
    assert.match(String((tooLarge.body as { error?: string }).error), /larger than 20000 bytes \(API_MAX_UPLOAD_BYTES\)/);
    const png = await upload(ACME, [{ name: 'manual.pdf', data: PNG }]);
    assert.deepEqual([png.status, png.body.code], [415, 'upload_not_pdf']);
    const empty = await upload(ACME, [{ name: 'empty.pdf', data: Buffer.alloc(0) }]);
    assert.deepEqual([empty.status, empty.body.code], [400, 'upload_empty']);
    for (const [agentEmail, emailLast] of [
      [undefined, false],
      ['not-an-address', false],
      [ACME, true],
    ] as const) {
      const refused = await upload(agentEmail, [{ name: 'manual.pdf', data: pdf }], emailLast);
      assert.deepEqual([refused.status, refused.body.code], [400, 'invalid_request'], `agent_email ${agentEmail} ${emailLast ? 'after' : 'before'} the file`);
    }
    const notMultipart = await call(pipeline, 'POST', '/api/documents', { json: { agent_email: ACME } });
    assert.deepEqual([notMultipart.status, notMultipart.body.code], [415, 'not_multipart']);
    // Taken whole or refused whole: the good file of a refused upload is not kept either.
    const mixed = await upload(ACME, [
      { name: 'good.pdf', data: pdf },
      { name: 'bad.pdf', data: PNG },
    ]);
    assert.equal(mixed.status, 415);
    assert.deepEqual((await call<{ documents: DocumentRecord[] }>(pipeline, 'GET', '/api/documents')).body.documents, []);

    const accepted = await upload('Support@Acme.example', [
      { name: 'manual.bin', data: pdf },
      { name: '../../etc/passwd.pdf', data: pdf },
      { name: '..\\..\\evil.pdf', data: pdf },
    ]);
    assert.equal(accepted.status, 202);
    const documents = accepted.body.documents ?? [];
    assert.deepEqual(
      documents.map((document) => [document.filename, document.agent_email, document.status]),
      [
        ['manual.bin', ACME, 'queued'],
        ['passwd.pdf', ACME, 'queued'],
        ['evil.pdf', ACME, 'queued'],
      ],
    );
    const uploadDir = path.resolve(pipeline.vhost.config.UPLOAD_DIR);
    for (const document of documents) {
      const stored = await pipeline.documents.get(document.document_id);
      assert.ok(stored, `${document.filename} registered at once`);
      assert.ok(stored.path.startsWith(`${uploadDir}${path.sep}`), `${stored.path} inside ${uploadDir}`);
      assert.ok(existsSync(stored.path));
    }
    assert.equal(existsSync(path.resolve(uploadDir, '../../etc/passwd.pdf')), false);
    const mailboxes = await call<{ mailboxes: string[] }>(pipeline, 'GET', '/api/mailboxes');
    assert.ok(mailboxes.body.mailboxes.includes(ACME), `mailboxes: ${mailboxes.body.mailboxes.join(', ')}`);
    const overview = await call<{ documents: Record<string, number> }>(pipeline, 'GET', '/api/overview');
    assert.equal(overview.body.documents.queued, 3);
  });
});

test('an uploaded manual is ingested with live progress, can be ingested again, and deleting it removes chunks, file and row', async () => {
  await withPipeline(['api', 'ingester', 'recorder'], {}, async (pipeline) => {
    const uploaded = await call<{ documents: DocumentRecord[] }>(pipeline, 'POST', '/api/documents', {
      form: uploadForm(ACME, [{ name: 'x200.pdf', data: await makePdf(MANUAL_PAGES) }]),
    });
    assert.equal(uploaded.status, 202);
    const id = uploaded.body.documents[0].document_id;
    const ingested = await waitForStatus(pipeline, id, 'ingested');
    assert.deepEqual([ingested.pages_total, ingested.pages_done], [2, 2]);
    assert.ok((ingested.chunks ?? 0) > 0);
    assert.ok((await pipeline.worker.services.vectorStore.query(ACME, 'reset admin password', 3)).some((chunk) => chunk.document_id === id));

    const again = await call<{ document: DocumentRecord }>(pipeline, 'POST', `/api/documents/${id}/reingest`);
    assert.deepEqual([again.status, again.body.document.document_id, again.body.document.status], [202, id, 'queued']);
    await waitForStatus(pipeline, id, 'ingested');

    const deleted = await call(pipeline, 'DELETE', `/api/documents/${id}`);
    assert.deepEqual([deleted.status, deleted.body], [200, { deleted: id }]);
    assert.equal(await documentOf(pipeline, id), undefined);
    assert.equal(existsSync(ingested.path), false, 'the stored file is gone');
    assert.equal(
      (await pipeline.worker.services.vectorStore.query(ACME, 'reset admin password', 3)).some((chunk) => chunk.document_id === id),
      false,
    );
    assert.equal((await call(pipeline, 'DELETE', `/api/documents/${id}`)).status, 404);
    assert.equal((await call(pipeline, 'POST', `/api/documents/${id}/reingest`)).status, 404);

    const other = await call<{ documents: DocumentRecord[] }>(pipeline, 'POST', '/api/documents', {
      form: uploadForm(ACME, [{ name: 'other.pdf', data: await makePdf(['Another manual.']) }]),
    });
    const otherId = other.body.documents[0].document_id;
    const otherDocument = await waitForStatus(pipeline, otherId, 'ingested');
    await rm(otherDocument.path);
    const missing = await call(pipeline, 'POST', `/api/documents/${otherId}/reingest`);
    assert.deepEqual([missing.status, missing.body.code], [409, 'document_file_missing']);
  });
});

test('emails: filters by mailbox, state, category and text with a total for paging; one email by its URL-encoded Message-ID, 404 when unknown', async () => {
  await withPipeline(['api'], {}, async (pipeline) => {
    const record = async (emailId: string, agentEmail: string, subject: string, stages: Array<[string, Record<string, unknown>]>) => {
      for (const [stage, detail] of stages) await pipeline.activity.record(buildEvent('test', { stage, email_id: emailId, agent_email: agentEmail, detail }));
    };
    const received = (subject: string, minutes: number) =>
      ['received', { from: 'customer@example.com', subject, received_at: new Date(Date.UTC(2025, 0, 1, 10, minutes)).toISOString(), priority: 5 }] as [
        string,
        Record<string, unknown>,
      ];
    await record('<one/1@example.com>', ACME, 'Router reset', [
      received('Router reset', 1),
      ['classified', { is_support_inquiry: true, category: 'technical', confidence: 0.9, reasoning: 'r' }],
      ['sent', { mode: 'auto', message_id: '<r1@acme.example>' }],
    ]);
    await record('<two@example.com>', ACME, 'Invoice question', [
      received('Invoice question', 2),
      ['classified', { is_support_inquiry: true, category: 'billing', confidence: 0.8, reasoning: 'r' }],
    ]);
    await record('<three@example.com>', GLOBEX, 'Router again', [received('Router again', 3)]);

    const list = async (query: string) => (await call<{ total: number; emails: Array<{ email_id: string }> }>(pipeline, 'GET', `/api/emails${query}`)).body;
    const ids = (body: { emails: Array<{ email_id: string }> }) => body.emails.map((email) => email.email_id);
    assert.deepEqual(ids(await list('')), ['<three@example.com>', '<two@example.com>', '<one/1@example.com>']);
    assert.deepEqual(ids(await list(`?agent_email=${encodeURIComponent(ACME)}`)), ['<two@example.com>', '<one/1@example.com>']);
    assert.deepEqual(ids(await list('?state=sent')), ['<one/1@example.com>']);
    assert.deepEqual(ids(await list('?category=billing')), ['<two@example.com>']);
    assert.deepEqual(ids(await list('?search=ROUTER')), ['<three@example.com>', '<one/1@example.com>']);
    const page = await list('?limit=1&offset=1');
    assert.deepEqual([page.total, ids(page)], [3, ['<two@example.com>']]);
    assert.equal((await call(pipeline, 'GET', '/api/emails?limit=0')).status, 400);

    const detail = await call<{ email: { state: string; subject: string }; timeline: Array<{ stage: string }>; review: Review | null }>(
      pipeline,
      'GET',
      `/api/emails/${encodeURIComponent('<one/1@example.com>')}`,
    );
    assert.equal(detail.status, 200);
    assert.deepEqual([detail.body.email.state, detail.body.email.subject, detail.body.review], ['sent', 'Router reset', null]);
    assert.deepEqual(
      detail.body.timeline.map((event) => event.stage),
      ['received', 'classified', 'sent'],
    );
    const unknown = await call(pipeline, 'GET', `/api/emails/${encodeURIComponent('<nobody@example.com>')}`);
    assert.deepEqual([unknown.status, unknown.body.code], [404, 'email_not_found']);

    const overview = await call<{ states: Record<string, number>; pending_reviews: number }>(pipeline, 'GET', '/api/overview');
    assert.deepEqual([overview.body.states, overview.body.pending_reviews], [{ sent: 1, classified: 1, received: 1 }, 0]);
    assert.deepEqual((await call<{ mailboxes: string[] }>(pipeline, 'GET', '/api/mailboxes')).body.mailboxes, [ACME, GLOBEX]);
  });
});

test('reviews (SEND_POLICY=review): an approved, edited reply is sent exactly as edited, a rejected one is not; a second decision is a 409', async () => {
  await withPipeline(ROLE_NAMES, { SEND_POLICY: 'review' }, async (pipeline) => {
    const uploaded = await call<{ documents: DocumentRecord[] }>(pipeline, 'POST', '/api/documents', {
      form: uploadForm(ACME, [{ name: 'x200.pdf', data: await makePdf(MANUAL_PAGES) }]),
    });
    await waitForStatus(pipeline, uploaded.body.documents[0].document_id, 'ingested');
    const question = (from: string) =>
      makeEmail({
        from,
        to: ACME,
        subject: 'How do I reset my router admin password?',
        body: 'Hello, I forgot the admin password of my X200 router. How do I reset it?\n',
      });
    const approved = await deliverEmail(pipeline, ACME, question('jose@mailbox.example'));
    const rejected = await deliverEmail(pipeline, ACME, question('ana@mailbox.example'));
    const pending = await eventually(
      async () => {
        const { body } = await call<{ total: number; reviews: Review[] }>(pipeline, 'GET', `/api/reviews?agent_email=${encodeURIComponent(ACME)}`);
        return body.total === 2 ? body.reviews : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 200, what: 'two pending reviews' },
    );
    assert.deepEqual(
      pending.map((review) => review.status),
      ['pending', 'pending'],
    );
    const approvedId = approved.email.email_id;
    const detail = await call<{ review: Review | null }>(pipeline, 'GET', `/api/emails/${encodeURIComponent(approvedId)}`);
    assert.equal(detail.body.review?.status, 'pending');

    const blank = await call(pipeline, 'POST', `/api/reviews/${encodeURIComponent(approvedId)}/approve`, { json: { body: '  ' } });
    assert.deepEqual([blank.status, blank.body.code], [400, 'review_body_empty']);
    const edited = 'Hello José,\n\nHold the reset button for 10 seconds; the default password is on the label.\n\nEdited by a person.';
    const approval = await call<{ review: Review }>(pipeline, 'POST', `/api/reviews/${encodeURIComponent(approvedId)}/approve`, { json: { body: edited } });
    assert.equal(approval.status, 202);
    assert.deepEqual([approval.body.review.status, approval.body.review.edited, approval.body.review.decided_by], ['approved', true, 'tester']);
    const reply = await eventually(async () => (await readReplies(pipeline, ACME)).find((file) => file.folder === 'outbox'), {
      timeoutMs: 30_000,
      what: 'the approved reply in the outbox',
    });
    assert.match(reply.parsed.text ?? '', /Edited by a person\./);
    assert.equal(reply.headers['in-reply-to'], approved.email.message_id_header);

    const second = await call(pipeline, 'POST', `/api/reviews/${encodeURIComponent(approvedId)}/approve`, { json: {} });
    assert.deepEqual([second.status, second.body.code], [409, 'review_conflict']);
    assert.equal((await call(pipeline, 'POST', `/api/reviews/${encodeURIComponent(approvedId)}/reject`, { json: {} })).status, 409);
    const unknown = await call(pipeline, 'POST', `/api/reviews/${encodeURIComponent('<nobody@example.com>')}/approve`, { json: {} });
    assert.deepEqual([unknown.status, unknown.body.code], [404, 'review_not_found']);

    const rejection = await call<{ review: Review }>(pipeline, 'POST', `/api/reviews/${encodeURIComponent(rejected.email.email_id)}/reject`, {
      json: { note: 'wrong product' },
    });
    assert.equal(rejection.status, 200);
    assert.deepEqual([rejection.body.review.status, rejection.body.review.note, rejection.body.review.decided_by], ['rejected', 'wrong product', 'tester']);
    const timeline = await eventually(
      async () => {
        const { body } = await call<{ timeline: Array<{ stage: string; detail: Record<string, unknown> }> }>(
          pipeline,
          'GET',
          `/api/emails/${encodeURIComponent(rejected.email.email_id)}`,
        );
        return body.timeline.find((event) => event.stage === 'review_rejected');
      },
      { what: 'the review_rejected event in the timeline' },
    );
    assert.deepEqual(timeline.detail, { by: 'tester', note: 'wrong product' });
    await waitFor(async () => (await call<{ total: number }>(pipeline, 'GET', '/api/reviews?status=sent')).body.total === 1, {
      timeoutMs: 30_000,
      what: 'the approved review marked sent',
    });
    assert.equal((await readReplies(pipeline, ACME)).filter((file) => file.folder === 'outbox').length, 1, 'only the approved reply went out');
  });
});

test('dead letters: listed, replayed to their work queue or discarded by id; unknown ids reported; a held queue is a 409', async () => {
  await withPipeline(['api'], {}, async (pipeline) => {
    const raw = await openChannel(pipeline);
    try {
      // Nobody consumes emails.to_classify here: a message that expires is dead-lettered by the broker.
      const messages = await Promise.all([1, 2, 3].map(() => classifyMessage(ACME, makeEmail())));
      for (const message of messages) {
        raw.channel.publish(EXCHANGES.email, ROUTING_KEYS.classify, Buffer.from(JSON.stringify(message)), {
          messageId: message.message_id,
          expiration: '1',
          persistent: true,
          contentType: 'application/json',
        });
      }
      const [first, second, third] = messages.map((message) => message.message_id);
      const entries = await eventually(
        async () => {
          const { body } = await call<{ entries: Array<{ id: string; kind: string; originalQueue: string; emailId: string }> }>(
            pipeline,
            'GET',
            '/api/dead-letters',
          );
          return body.entries.length === 3 ? body.entries : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200, what: 'three dead letters' },
      );
      assert.deepEqual(
        entries.map((entry) => [entry.id, entry.kind, entry.originalQueue]).sort(),
        [first, second, third].map((id) => [id, 'broker', QUEUES.toClassify]).sort(),
      );

      const replay = await call(pipeline, 'POST', '/api/dead-letters/replay', { json: { ids: [first, 'no-such-id'] } });
      assert.equal(replay.status, 200);
      assert.deepEqual(replay.body.replayed, [first]);
      assert.deepEqual(
        (replay.body.failed as Array<{ id: string }>).map((failure) => failure.id),
        ['no-such-id'],
      );
      assert.equal((await raw.channel.checkQueue(QUEUES.toClassify)).messageCount, 1, 'the replayed message is back in its queue');
      const discard = await call(pipeline, 'POST', '/api/dead-letters/discard', { json: { ids: [second] } });
      assert.deepEqual([discard.status, discard.body.discarded, discard.body.failed], [200, [second], []]);
      const left = await call<{ entries: Array<{ id: string }> }>(pipeline, 'GET', '/api/dead-letters');
      assert.deepEqual(
        left.body.entries.map((entry) => entry.id),
        [third],
      );
      assert.equal((await call(pipeline, 'POST', '/api/dead-letters/replay', { json: { ids: [] } })).status, 400);

      await raw.channel.consume(QUEUES.deadLetter, () => undefined);
      const busy = await call(pipeline, 'GET', '/api/dead-letters');
      assert.deepEqual([busy.status, busy.body.code], [409, 'dead_letter_queue_busy']);
    } finally {
      await raw.close();
    }
  });
});

test('/api/broker shows the work queues, dead_letter_queue and events.audit with depths and rates; an unreachable management API is reachable:false, not an error', async () => {
  await withPipeline(['api'], {}, async (pipeline) => {
    const { status, body } = await call<{ reachable: boolean; queues: Array<Record<string, unknown>> }>(pipeline, 'GET', '/api/broker');
    assert.equal(status, 200);
    assert.equal(body.reachable, true);
    assert.deepEqual(
      body.queues.map((queue) => queue.name),
      [QUEUES.toClassify, QUEUES.toRespond, QUEUES.toSend, QUEUES.toIngest, QUEUES.deadLetter, QUEUES.audit],
    );
    for (const queue of body.queues) {
      assert.deepEqual(Object.keys(queue).sort(), [
        'consumers',
        'deliver_rate',
        'messages',
        'messages_ready',
        'messages_unacknowledged',
        'name',
        'publish_rate',
      ]);
      for (const [key, value] of Object.entries(queue)) if (key !== 'name') assert.equal(typeof value, 'number', `${queue.name} ${key}`);
    }
  });
  await withPipeline(['api'], { RABBITMQ_MANAGEMENT_URL: 'http://guest:guest@127.0.0.1:9' }, async (pipeline) => {
    const { status, body } = await call<{ reachable: boolean; queues: unknown[]; error: string }>(pipeline, 'GET', '/api/broker');
    assert.deepEqual([status, body.reachable, body.queues], [200, false, []]);
    assert.match(body.error, /management API/);
  });
});
