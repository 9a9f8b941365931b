/**
 * The ingester against hostile input, on the real RabbitMQ: a message naming a file outside the
 * upload folder is dead-lettered as `document_path_forbidden` without reading it, and hostile PDFs
 * (a compressed-stream bomb, nested forms that multiply their text, too many chunks) are
 * dead-lettered with their reason while the ingester's process keeps its memory and its event loop
 * turning, and the next real manual still ingests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { QUEUES } from '../../src/messaging/topology.js';
import { publishEvent } from '../../src/messaging/events.js';
import type { DeadLetterRecord, ToIngestMessage } from '../../src/pipeline/messages.js';
import { submitDocument } from '../../src/features/documents.js';
import { makeCompressedStreamBomb, makeNestedFormBomb, makePdf } from '../helpers/pdf-fixtures.js';
import { waitFor } from '../helpers/broker.js';
import { startProcessProbe } from '../helpers/process-probe.js';
import { assertRefused } from '../helpers/ingest-assertions.js';
import { getMessage, openChannel, SAMPLES, waitForSettled, withPipeline, type Pipeline } from '../helpers/pipeline.js';
import { toIngest } from '../../src/pipeline/stages.js';

const ALPHA = 'support@alpha.example';

/** Publishes a hand-made ingest message (as a forger with publish rights would), announced as queued. */
async function publishIngest(pipeline: Pipeline, documentId: string, filePath: string): Promise<void> {
  const { broker } = pipeline.worker;
  const message: ToIngestMessage = {
    message_id: randomUUID(),
    timestamp: new Date().toISOString(),
    original_message_id: null,
    document_id: documentId,
    agent_email: ALPHA,
    filename: path.basename(filePath),
    path: filePath,
  };
  await publishEvent(broker, 'upload', {
    stage: 'queued',
    document_id: documentId,
    agent_email: ALPHA,
    detail: { filename: message.filename, path: filePath, bytes: 0 },
  });
  await broker.publish(toIngest, message);
}

/**
 * Pages whose text differs in more than digits: a line like "Page 7 of a long manual." on every
 * page is a running footer, which ingest strips, and the document would give no chunks at all.
 */
function distinctPages(count: number): string[] {
  const word = (index: number) => String.fromCharCode(97 + (index % 26)).repeat(1 + Math.floor(index / 26)) + 'word';
  return Array.from({ length: count }, (_, index) => `Page ${index + 1} of a long manual explains ${word(index)}.`);
}

/** Reads `count` dead-letter records, keyed by document id, and checks nothing else was dead-lettered. */
async function deadLetters(pipeline: Pipeline, count: number): Promise<Map<string, DeadLetterRecord>> {
  const raw = await openChannel(pipeline);
  try {
    const records = new Map<string, DeadLetterRecord>();
    for (let index = 0; index < count; index += 1) {
      const { body } = await getMessage<DeadLetterRecord>(raw.channel, QUEUES.deadLetter);
      records.set((body.original_message as ToIngestMessage).document_id, body);
    }
    assert.equal(await raw.channel.get(QUEUES.deadLetter), false, 'nothing else was dead-lettered');
    return records;
  } finally {
    await raw.close();
  }
}

test(
  'ingest paths are confined to the upload folder: /etc/passwd, ../ escapes and symlinks leading out are dead-lettered unread, a normal upload ingests',
  { timeout: 240_000 },
  async () => {
    await withPipeline(['ingester', 'recorder'], {}, async (pipeline) => {
      const uploadDir = path.resolve(pipeline.vhost.config.UPLOAD_DIR);
      // A real PDF next to the upload folder: read, it would be ingested and its words retrievable.
      const outside = path.join(path.dirname(uploadDir), `outside-${randomUUID()}`);
      await mkdir(outside, { recursive: true });
      const secret = path.join(outside, 'secret.pdf');
      await writeFile(secret, await makePdf(['Outside the upload folder: the vault code is zebracode 4471.']));
      await mkdir(path.join(uploadDir, 'linked-file'), { recursive: true });
      await symlink(secret, path.join(uploadDir, 'linked-file', 'manual.pdf'));
      await symlink(outside, path.join(uploadDir, 'linked-folder'));

      const forbidden: Array<[string, string]> = [
        ['etc-passwd', '/etc/passwd'],
        ['absolute-outside', secret],
        ['dot-dot-escape', `${uploadDir}/../${path.basename(outside)}/secret.pdf`],
        ['file-symlink', path.join(uploadDir, 'linked-file', 'manual.pdf')],
        ['folder-symlink', path.join(uploadDir, 'linked-folder', 'secret.pdf')],
      ];
      for (const [documentId, filePath] of forbidden) await publishIngest(pipeline, documentId, filePath);
      const good = await submitDocument(pipeline.worker.broker, uploadDir, {
        agentEmail: ALPHA,
        filename: 'good.pdf',
        data: await makePdf(['The reset button is on the back of the router.']),
      });

      const settled = await waitForSettled(pipeline, 'ingester', forbidden.length + 1, 150_000);
      assert.deepEqual(
        settled.map((info) => info.outcome),
        [...forbidden.map(() => 'dead_lettered'), 'processed'],
      );
      const records = await deadLetters(pipeline, forbidden.length);
      for (const [documentId] of forbidden) {
        await assertRefused(pipeline, records, documentId, 'document_path_forbidden', /outside the upload folder; nothing was read/);
      }
      const store = pipeline.worker.services.vectorStore;
      assert.deepEqual(await store.query(ALPHA, 'vault code zebracode 4471', 10), [], 'nothing from outside the folder was stored');
      await waitFor(async () => (await pipeline.documents.get(good.document_id))?.status === 'ingested', { what: 'the normal upload ingested' });
      assert.ok((await store.query(ALPHA, 'reset button', 5)).some((chunk) => chunk.document_id === good.document_id));
    });
  },
);

test(
  'hostile PDFs (stream bomb, nested forms, too many chunks) are dead-lettered with their reason; the ingester keeps its memory and heartbeats, and a real manual then ingests',
  { timeout: 300_000 },
  async () => {
    const overrides = { PDF_PARSE_MAX_MEMORY_MB: '128', PDF_PARSE_TIMEOUT_MS: '60000', PDF_MAX_CHUNKS: '20' };
    await withPipeline(['ingester', 'recorder'], overrides, async (pipeline) => {
      const { broker } = pipeline.worker;
      const uploadDir = pipeline.vhost.config.UPLOAD_DIR;
      // Which budget stops a bomb first depends on the Node version (pdf.js inflates and draws more
      // lazily on Node 22): any of them refuses it for good, on its first delivery.
      const bombRefusal = {
        errorType: ['pdf_parse_memory', 'pdf_parse_timeout', 'pdf_too_large'],
        message: /more than 128 MB of memory|took longer than 60000 ms|at most 100000 per page/,
      };
      const hostile: Array<{ filename: string; data: Buffer; errorType: string | readonly string[]; message: RegExp }> = [
        { filename: 'stream-bomb.pdf', data: await makeCompressedStreamBomb(), ...bombRefusal },
        { filename: 'nested-forms.pdf', data: makeNestedFormBomb(), ...bombRefusal },
        {
          filename: 'dense-page.pdf',
          data: makeNestedFormBomb({ depth: 3, text: 'Nested text line. '.repeat(11) }),
          errorType: 'pdf_too_large',
          message: /Page 1 .* at most 100000 per page/,
        },
        { filename: 'many-chunks.pdf', data: await makePdf(distinctPages(30)), errorType: 'pdf_too_large', message: /30 chunks; at most 20/ },
      ];
      assert.ok(hostile[0].data.length < 150_000 && hostile[1].data.length < 4_000, 'the bombs are small files');

      const probe = startProcessProbe();
      const started = Date.now();
      try {
        const expected = new Map<string, (typeof hostile)[number]>();
        for (const document of hostile) {
          expected.set((await submitDocument(broker, uploadDir, { agentEmail: ALPHA, ...document })).document_id, document);
        }
        const manual = path.join(SAMPLES, 'manuals', 'support@acme.example', 'acme-router-x200-manual.pdf');
        const good = await submitDocument(broker, uploadDir, { agentEmail: ALPHA, filename: path.basename(manual), data: await readFile(manual) });

        const settled = await waitForSettled(pipeline, 'ingester', hostile.length + 1, 240_000);
        const elapsedMs = Date.now() - started;
        assert.deepEqual(
          settled.map((info) => info.outcome),
          [...hostile.map(() => 'dead_lettered'), 'processed'],
          'each refused on its first delivery, none redelivered',
        );
        const records = await deadLetters(pipeline, hostile.length);
        for (const [documentId, { errorType, message }] of expected) await assertRefused(pipeline, records, documentId, errorType, message);
        await waitFor(async () => (await pipeline.documents.get(good.document_id))?.status === 'ingested', { what: 'the real manual ingested' });
        assert.ok((await pipeline.worker.services.vectorStore.query(ALPHA, 'router reset', 5)).some((chunk) => chunk.document_id === good.document_id));

        const { rssGrowthMb, maxGapMs } = probe.stop();
        assert.ok(rssGrowthMb < 150, `the ingester's process grew by ${rssGrowthMb.toFixed(0)} MB`);
        assert.ok(maxGapMs < 1_000, `the event loop was blocked for ${maxGapMs} ms`);
        assert.ok(elapsedMs < 200_000, `all settled in ${elapsedMs} ms`);
      } finally {
        probe.stop();
      }
    });
  },
);
