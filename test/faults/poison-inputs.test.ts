/**
 * Fault suite, issue 7: poison inputs mixed into a normal flow, through the real worker process.
 * - Emails through the real poller: a question in a 5 MB body, bytes that are not UTF-8 in the
 *   body and in the headers, NUL and control characters. Each must get its one reply.
 * - Bodies that are not JSON (not even UTF-8) and bodies of the wrong schema, straight into each
 *   role's queue: each dead-lettered at once by that role with the reason, the flow going on.
 * - A PDF that claims 100,000 pages, at the default MAX_PDF_PAGES: refused from its page count,
 *   dead-lettered, marked failed, and the next manual still ingested.
 * The ordinary emails around them end as ever: 0 lost, 0 sent twice.
 *
 * Already proven elsewhere, not repeated: non-JSON and wrong-schema bodies in the consumer runtime
 * and in the classifier (test/integration/consumer-runtime.test.ts, permissions.test.ts); empty
 * (zero-byte), not-a-PDF, corrupt, encrypted and too-long PDFs and a missing file in the ingester
 * (test/integration/ingestion.test.ts); 100,000 pages refused before any text is read
 * (test/unit/pdf.test.ts); unparseable mail set aside in rejected/ (test/unit/maildir.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import amqplib from 'amqplib';
import { listDeadLetters } from '../../src/messaging/dead-letters.js';
import { QUEUES } from '../../src/messaging/topology.js';
import { submitDocument } from '../../src/features/documents.js';
import { DocumentRegistry } from '../../src/store/documents.js';
import { waitFor } from '../helpers/broker.js';
import { assertAccounted } from '../helpers/fault-accounting.js';
import { withFaultRun } from '../helpers/fault-run.js';
import { ACME } from '../helpers/pipeline.js';
import { makePdf, makePdfClaimingPages } from '../helpers/pdf-fixtures.js';
import { poisonEmails } from '../helpers/poison-emails.js';

const WORK_QUEUES = [QUEUES.toClassify, QUEUES.toRespond, QUEUES.toSend, QUEUES.toIngest];
/** Not JSON, and not UTF-8 either: a lone continuation byte, 0xFF, a truncated sequence. */
const NOT_JSON = Buffer.concat([Buffer.from('{"message_id": "'), Buffer.from([0x80, 0xff, 0xfe, 0xe2, 0x82]), Buffer.from('",')]);

test(
  'poison inputs mid-flow (5 MB body, invalid UTF-8, NUL bytes, non-JSON and wrong-schema bodies in every queue, a PDF claiming 100,000 pages): each replied once or dead-lettered with its reason; 0 lost, 0 sent twice',
  { timeout: 900_000 },
  async () => {
    await withFaultRun({ name: 'poison-inputs', processes: ['all'] }, async (run) => {
      const poisons = poisonEmails(randomUUID().slice(0, 8));
      const injectAfter = Math.round(run.random.between(0.2, 0.6) * run.emails.length);
      const uploaded: { huge?: string; good?: string } = {};
      const inject = async () => {
        const connection = await amqplib.connect(run.config.AMQP_URL);
        try {
          const channel = await connection.createConfirmChannel();
          for (const queue of WORK_QUEUES) {
            channel.sendToQueue(queue, NOT_JSON, { persistent: true, contentType: 'application/json', messageId: `not-json-${queue}` });
            channel.sendToQueue(queue, Buffer.from(JSON.stringify({ message_id: `wrong-schema-${queue}`, email: { email_id: 42 }, document_id: [] })), {
              persistent: true,
              contentType: 'application/json',
            });
          }
          await channel.waitForConfirms();
        } finally {
          await connection.close();
        }
        uploaded.huge = (
          await submitDocument(run.broker, run.config.UPLOAD_DIR, {
            agentEmail: ACME,
            filename: 'claims-100000-pages.pdf',
            data: makePdfClaimingPages(100_000),
          })
        ).document_id;
        uploaded.good = (
          await submitDocument(run.broker, run.config.UPLOAD_DIR, {
            agentEmail: ACME,
            filename: 'after-the-poison.pdf',
            data: await makePdf(['Wall mounting: the X200 hangs on two screws 12 cm apart.']),
          })
        ).document_id;
      };
      const report = await run.flow({
        extra: poisons,
        faults: [{ afterDelivered: injectAfter, run: inject }],
        describe: () => `poison queued after ${injectAfter} delivered`,
      });

      // The poison emails: each answered exactly once, like any other email.
      const ends = poisons.map((poison) => {
        const account = report.accounts.find((entry) => entry.email === poison)!;
        return `${poison.sample} ${account.end}${account.reasons.length ? ` (${account.reasons.join('; ')})` : ''}`;
      });
      process.stdout.write(`faults poison-inputs: poison emails ended ${ends.join(', ')}\n`);
      // A hand-off (a draft for a person: the 5 MB body's question drowns in its log lines) is an answer too.
      assert.deepEqual(
        ends.filter((end) => !/ (sent|drafted|handed_off)$/.test(end)),
        [],
        'every poison email answered once',
      );
      assertAccounted(report);

      // Every poison body: dead-lettered by the role whose queue it was put in, with the reason, never retried.
      const deadLetters = await listDeadLetters({ config: run.config });
      for (const queue of WORK_QUEUES) {
        const found = deadLetters.filter((entry) => entry.originalQueue === queue && entry.kind === 'wrapped');
        const types = found.map((entry) => entry.errorType);
        assert.equal(types.filter((type) => type === 'invalid_json').length, 1, `${queue}: one invalid_json dead letter (have ${types.join(', ')})`);
        assert.equal(types.filter((type) => type === 'schema_invalid').length, 1, `${queue}: one schema_invalid dead letter (have ${types.join(', ')})`);
        for (const entry of found.filter((candidate) => candidate.errorType !== 'pdf_too_many_pages')) {
          assert.match(entry.reason, entry.errorType === 'invalid_json' ? /not JSON/ : new RegExp(`does not match the ${queue.replace('.', '\\.')} schema`));
          assert.equal(entry.retryCount, 0, `${queue}: ${entry.errorType} not retried`);
        }
      }
      // The PDF that claims 100,000 pages: refused at the default page limit; the next manual still ingested.
      const huge = deadLetters.find((entry) => entry.documentId === uploaded.huge);
      assert.equal(huge?.errorType, 'pdf_too_many_pages', `the 100,000-page PDF dead-lettered: ${huge?.reason}`);
      assert.match(huge!.reason, /100000 pages; at most 2000/);
      const registry = new DocumentRegistry(run.database);
      await waitFor(async () => (await registry.get(uploaded.huge!))?.status === 'failed' && (await registry.get(uploaded.good!))?.status === 'ingested', {
        timeoutMs: 30_000,
        what: 'the huge PDF failed and the next one ingested',
      });
      assert.equal(
        deadLetters.length,
        2 * WORK_QUEUES.length + 1,
        `nothing else dead-lettered: ${deadLetters.map((entry) => `${entry.originalQueue} ${entry.errorType}`).join(', ')}`,
      );
      assert.deepEqual(run.fleet.unexpectedExits, [], 'the worker survived every poison');
    });
  },
);
