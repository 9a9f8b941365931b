/**
 * Ingestion against the real RabbitMQ: tenant isolation of retrieval, re-ingestion replacing a
 * document's chunks, and poison documents dead-lettered with a clear reason while the ingester
 * goes on with the next document.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { ROLE_NAMES } from '../../src/app/registry.js';
import { EXCHANGES, QUEUES, ROUTING_KEYS } from '../../src/messaging/topology.js';
import { publishEvent } from '../../src/messaging/events.js';
import type { DeadLetterRecord, ToIngestMessage, ToSendMessage } from '../../src/pipeline/messages.js';
import { submitDocument } from '../../src/features/documents.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { makeCorruptPdf, makeEncryptedPdf, makePdf, makePdfClaimingPages } from '../helpers/pdf-fixtures.js';
import { waitFor } from '../helpers/broker.js';
import { assertRefused } from '../helpers/ingest-assertions.js';
import { deliverEmail, getMessage, openChannel, submitAndWait, waitForFinalStates, waitForSettled, withPipeline } from '../helpers/pipeline.js';
import { toIngest } from '../../src/pipeline/stages.js';

const ALPHA = 'support@alpha.example';
const BETA = 'support@beta.example';

test("tenant isolation: mailbox A never retrieves mailbox B's chunks, in the pipeline or in the vector store", { timeout: 90_000 }, async () => {
  await withPipeline(ROLE_NAMES, {}, async (pipeline) => {
    const raw = await openChannel(pipeline);
    try {
      const { queue: tap } = await raw.channel.assertQueue('', { exclusive: true });
      await raw.channel.bindQueue(tap, EXCHANGES.reply, ROUTING_KEYS.send);
      // Both tenants document the same widget in the same words; only B's manual mentions the lever.
      const alphaId = await submitAndWait(pipeline, {
        agentEmail: ALPHA,
        filename: 'alpha-widget.pdf',
        data: await makePdf(['Widget W1 manual. Resetting the widget: press and hold the blue button for five seconds until the lamp flashes.']),
      });
      const betaId = await submitAndWait(pipeline, {
        agentEmail: BETA,
        filename: 'beta-widget.pdf',
        data: await makePdf(['Widget W1 manual. Resetting the widget: pull the red lever twice, then enter the calibration code 7741.']),
      });
      assert.equal((await pipeline.documents.get(alphaId))?.status, 'ingested');
      assert.equal((await pipeline.documents.get(betaId))?.status, 'ingested');

      const store = pipeline.worker.services.vectorStore;
      const question = 'How do I reset the widget? Do I pull the red lever and enter the calibration code?';
      const fromBeta = await store.query(BETA, question, 10);
      assert.ok(
        fromBeta.some((chunk) => chunk.document_id === betaId),
        "the question does match B's manual in B",
      );
      const fromAlpha = await store.query(ALPHA, question, 10);
      assert.ok(fromAlpha.length > 0, 'A has a matching chunk of its own');
      assert.ok(
        fromAlpha.every((chunk) => chunk.document_id === alphaId && !chunk.text.includes('lever')),
        JSON.stringify(fromAlpha),
      );
      assert.deepEqual(await store.query(ALPHA, 'lever calibration 7741', 10), [], 'terms only B has find nothing in A');

      // The pipeline's question is one A's manual answers (a reply uses passages holding enough of
      // its words: the one above is mostly about B's lever and code, so A would hand it off with no
      // passage at all); it still names B's lever, so B's chunk would outrank A's if it leaked.
      const email = await deliverEmail(
        pipeline,
        ALPHA,
        makeEmail({ to: ALPHA, subject: 'Resetting the widget', body: 'How do I reset the widget: with the button or with the lever?\n' }),
      );
      const summaries = await waitForFinalStates(pipeline, [email.email.email_id], 60_000);
      const { body } = await getMessage<ToSendMessage>(raw.channel, tap);
      assert.equal(body.email.email_id, email.email.email_id);
      assert.ok(body.context_used.length > 0, "A's own manual was used");
      for (const item of body.context_used) {
        assert.equal(item.source, 'alpha-widget.pdf');
        assert.equal(item.document_id, alphaId);
        assert.doesNotMatch(item.text, /lever|7741/);
      }
      assert.doesNotMatch(body.generated_response.body, /lever|7741|beta-widget/);
      assert.ok(summaries.get(email.email.email_id)?.citations.every((citation) => citation.source === 'alpha-widget.pdf'));
    } finally {
      await raw.close();
    }
  });
});

test('re-ingesting a document id replaces its chunks: same content keeps the count, new content leaves only the new chunks', { timeout: 90_000 }, async () => {
  await withPipeline(['ingester', 'recorder'], {}, async (pipeline) => {
    const documentId = `manual-${randomUUID()}`;
    const upload = async (pages: string[]) => {
      await submitDocument(pipeline.worker.broker, pipeline.vhost.config.UPLOAD_DIR, {
        agentEmail: ALPHA,
        filename: 'manual.pdf',
        documentId,
        data: await makePdf(pages),
      });
    };
    const vectors = new BetterSqlite3(pipeline.vhost.config.VECTOR_DB_PATH, { readonly: true, fileMustExist: true });
    try {
      const storedChunks = () =>
        (vectors.prepare('SELECT COUNT(*) AS total FROM chunks WHERE namespace = ? AND document_id = ?').get(ALPHA, documentId) as { total: number }).total;
      const retrieved = async (text: string) =>
        (await pipeline.worker.services.vectorStore.query(ALPHA, text, 50)).filter((chunk) => chunk.document_id === documentId);
      const first = [
        'Zebra crossing guide, page one. Keyword manualword.',
        'Zebra stripes, page two. Keyword manualword.',
        'Zebra care, page three. Keyword manualword.',
      ];

      await upload(first);
      assert.deepEqual(
        (await waitForSettled(pipeline, 'ingester', 1)).map((info) => info.status),
        ['ingested'],
      );
      assert.equal(storedChunks(), 3);
      await upload(first);
      assert.deepEqual(
        (await waitForSettled(pipeline, 'ingester', 2)).map((info) => info.status),
        ['ingested', 'ingested'],
      );
      assert.equal(storedChunks(), 3, 'the same document twice is not stored twice');
      assert.equal((await retrieved('manualword')).length, 3);

      await upload(['Yak herding guide, page one. Keyword manualword.', 'Yak shearing, page two. Keyword manualword.']);
      await waitForSettled(pipeline, 'ingester', 3);
      assert.equal(storedChunks(), 2, 'only the new content is stored');
      const now = await retrieved('manualword');
      assert.equal(now.length, 2);
      assert.ok(
        now.every((chunk) => chunk.text.includes('Yak')),
        JSON.stringify(now),
      );
      assert.deepEqual(await retrieved('zebra stripes crossing'), [], 'the old text is no longer retrievable');
      const record = await waitFor(
        async () => {
          const document = await pipeline.documents.get(documentId);
          return document?.status === 'ingested' && document.chunks === 2 ? document : undefined;
        },
        { what: 'registry updated to the new version' },
      );
      assert.equal(record?.pages_total, 2);
    } finally {
      vectors.close();
    }
  });
});

test('poison documents are dead-lettered with a clear reason, marked failed, and the ingester goes on with a good one', { timeout: 240_000 }, async () => {
  await withPipeline(['ingester', 'recorder'], { MAX_PDF_PAGES: '100' }, async (pipeline) => {
    const raw = await openChannel(pipeline);
    try {
      const { broker } = pipeline.worker;
      const { UPLOAD_DIR } = pipeline.vhost.config;
      const poison: Array<{ filename: string; data: Buffer; errorType: string; message: RegExp }> = [
        { filename: 'empty.pdf', data: Buffer.alloc(0), errorType: 'pdf_empty', message: /empty/i },
        { filename: 'notes.pdf', data: Buffer.from('These are plain-text notes, not a PDF.\n'), errorType: 'not_a_pdf', message: /not a PDF/i },
        { filename: 'corrupt.pdf', data: makeCorruptPdf(), errorType: 'pdf_corrupt', message: /cannot be parsed/i },
        { filename: 'locked.pdf', data: await makeEncryptedPdf(), errorType: 'pdf_encrypted', message: /password/i },
        { filename: 'huge.pdf', data: makePdfClaimingPages(2000), errorType: 'pdf_too_many_pages', message: /2000 pages; at most 100/ },
        { filename: 'blank.pdf', data: await makePdf(['', '']), errorType: 'pdf_no_text', message: /no text could be read/i },
      ];
      const expected = new Map<string, { errorType: string; message: RegExp }>();
      for (const document of poison) {
        const message = await submitDocument(broker, UPLOAD_DIR, { agentEmail: ALPHA, filename: document.filename, data: document.data });
        expected.set(message.document_id, document);
      }
      // A document whose stored file is gone by the time the ingester gets to it.
      const missing: ToIngestMessage = {
        message_id: randomUUID(),
        timestamp: new Date().toISOString(),
        original_message_id: null,
        document_id: 'missing-document',
        agent_email: ALPHA,
        filename: 'missing.pdf',
        path: path.join(UPLOAD_DIR, 'missing-document', 'missing.pdf'),
      };
      await publishEvent(broker, 'upload', {
        stage: 'queued',
        document_id: missing.document_id,
        agent_email: ALPHA,
        detail: { filename: missing.filename, path: missing.path, bytes: 0 },
      });
      await broker.publish(toIngest, missing);
      expected.set(missing.document_id, { errorType: 'document_unreadable', message: /ENOENT/ });
      const good = await submitDocument(broker, UPLOAD_DIR, {
        agentEmail: ALPHA,
        filename: 'good.pdf',
        data: await makePdf(['The reset button is on the back of the router.']),
      });

      // Each PDF is read in a child process of its own, which takes a few seconds to start on a busy machine.
      const settled = await waitForSettled(pipeline, 'ingester', 8, 180_000);
      assert.deepEqual(
        settled.map((info) => info.outcome),
        [...Array(7).fill('dead_lettered'), 'processed'],
      );

      const records = new Map<string, DeadLetterRecord>();
      for (let index = 0; index < 7; index += 1) {
        const { body } = await getMessage<DeadLetterRecord>(raw.channel, QUEUES.deadLetter);
        records.set((body.original_message as ToIngestMessage).document_id, body);
      }
      assert.equal(await raw.channel.get(QUEUES.deadLetter), false, 'nothing else was dead-lettered');
      for (const [documentId, { errorType, message }] of expected) {
        // Not retried: dead-lettered on its first attempt (the settled outcomes above show no retry).
        await assertRefused(pipeline, records, documentId, errorType, message);
      }
      await waitFor(async () => (await pipeline.documents.get(good.document_id))?.status === 'ingested', { what: 'the good document ingested' });
      assert.ok((await pipeline.worker.services.vectorStore.query(ALPHA, 'reset button', 5)).some((chunk) => chunk.document_id === good.document_id));
    } finally {
      await raw.close();
    }
  });
});
