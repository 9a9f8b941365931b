/**
 * Uploads under load and attack: parallel maximum-size uploads stream to disk instead of memory
 * (measured on an api process of its own), uploads beyond API_MAX_CONCURRENT_UPLOADS are turned
 * away with 503 and Retry-After, and no temporary file outlives its request, whether it was
 * accepted, refused, too large or dropped by the client.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { incomingFolderOf } from '../../src/http/api/upload-receiver.js';
import { createTestVhost, waitFor } from '../helpers/broker.js';
import { memoryOf, rawUpload, resetPeakMemory, spawnApiProcess } from '../helpers/api-process.js';
import { makePdf } from '../helpers/pdf-fixtures.js';
import { ACME, withPipeline } from '../helpers/pipeline.js';

const MiB = 1024 * 1024;
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64');

/** `promise`, or a failure naming `what` after `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** What is left in the folder of files being received (none once every request is over). */
const incomingFiles = async (uploadDir: string) => readdir(incomingFolderOf(uploadDir)).catch(() => [] as string[]);

test(
  'parallel maximum-size uploads stream to disk: 4 requests of 3 × 20 MiB grow the api process by far less than they carry, and leave no temporary file',
  { timeout: 300_000 },
  async () => {
    const maxBytes = 20 * MiB;
    const requests = 4;
    const filesPerRequest = 3;
    const vhost = await createTestVhost();
    const token = randomBytes(24).toString('base64url');
    const api = await spawnApiProcess(vhost, {
      API_TOKENS: `tester=${token}`,
      API_MAX_UPLOAD_BYTES: String(maxBytes),
      API_MAX_CONCURRENT_UPLOADS: String(requests),
    });
    try {
      // One small upload first, so what is loaded once (routes, file-type, the upload folder) is not counted.
      const warmUp = await rawUpload(api.url, token, ACME, [{ name: 'warm-up.pdf', bytes: 100_000 }]).response;
      assert.equal(warmUp.status, 202, JSON.stringify(warmUp.body));
      const before = memoryOf(api.pid, 'VmRSS');
      resetPeakMemory(api.pid);

      const uploads = Array.from({ length: requests }, (_, request) =>
        rawUpload(
          api.url,
          token,
          ACME,
          Array.from({ length: filesPerRequest }, (_, file) => ({ name: `r${request}-manual${file}.pdf`, bytes: maxBytes })),
        ),
      );
      const answers = await Promise.all(uploads.map((upload) => upload.response));
      const growth = memoryOf(api.pid, 'VmHWM') - before;

      for (const answer of answers) assert.equal(answer.status, 202, JSON.stringify(answer.body));
      const carried = requests * filesPerRequest * maxBytes;
      // Buffering them took the whole 240 MiB and more; streaming needs a few buffers per request.
      assert.ok(growth < 96 * MiB, `the api process grew by ${(growth / MiB).toFixed(0)} MiB while receiving ${carried / MiB} MiB (bound 96 MiB)`);

      const documents = answers.flatMap((answer) => answer.body.documents as Array<{ document_id: string; filename: string }>);
      assert.equal(documents.length, requests * filesPerRequest);
      for (const document of documents) {
        assert.equal(
          (await stat(path.join(vhost.config.UPLOAD_DIR, document.document_id, document.filename))).size,
          maxBytes,
          `${document.filename} stored whole`,
        );
      }
      assert.deepEqual(await incomingFiles(vhost.config.UPLOAD_DIR), []);
    } finally {
      await api.stop();
      await vhost.cleanup();
    }
  },
);

test(
  'uploads beyond API_MAX_CONCURRENT_UPLOADS (default 2) get 503 with Retry-After; a finished or dropped upload frees its place and leaves no temporary file',
  { timeout: 120_000 },
  async () => {
    await withPipeline(['api'], {}, async (pipeline) => {
      const { apiUrl: url = '', apiToken: token = '' } = pipeline;
      const uploadDir = pipeline.vhost.config.UPLOAD_DIR;
      const held = [
        rawUpload(url, token, ACME, [{ name: 'finished.pdf', bytes: 300_000 }], { hold: true }),
        rawUpload(url, token, ACME, [{ name: 'dropped.pdf', bytes: 300_000 }], { hold: true }),
      ];
      await waitFor(async () => (await incomingFiles(uploadDir)).length === 2, { timeoutMs: 30_000, what: 'two uploads being received' });

      const refused = rawUpload(url, token, ACME, [{ name: 'third.pdf', bytes: 4 * MiB }]);
      const busy = await refused.response;
      assert.deepEqual([busy.status, busy.body.code], [503, 'uploads_busy']);
      assert.match(String(busy.headers['retry-after']), /^[1-9]\d*$/);
      assert.match(String(busy.body.error), /API_MAX_CONCURRENT_UPLOADS/);
      // Its body is read into nothing: the client finishes sending instead of hanging on a full socket.
      await within(refused.sent, 20_000, 'the refused upload sent whole');

      held[0].finish();
      assert.equal((await held[0].response).status, 202);
      held[1].abort();
      await held[1].response.catch(() => undefined);
      await waitFor(async () => (await incomingFiles(uploadDir)).length === 0, { timeoutMs: 30_000, what: "the dropped upload's temporary file to go" });

      const again = await rawUpload(url, token, ACME, [{ name: 'third.pdf', bytes: 10_000 }]).response;
      assert.equal(again.status, 202, JSON.stringify(again.body));
      assert.deepEqual((await pipeline.documents.list(ACME)).map((document) => document.filename).sort(), ['finished.pdf', 'third.pdf']);
    });
  },
);

test(
  'a refused upload leaves nothing behind (too large, or a PNG after a good PDF), an accepted one is stored whole at exactly the limit',
  { timeout: 120_000 },
  async () => {
    const maxBytes = MiB;
    await withPipeline(['api'], { API_MAX_UPLOAD_BYTES: String(maxBytes) }, async (pipeline) => {
      const { apiUrl: url = '', apiToken: token = '' } = pipeline;
      const uploadDir = pipeline.vhost.config.UPLOAD_DIR;
      const storedFolders = async () => (await readdir(uploadDir).catch(() => [] as string[])).filter((name) => !name.startsWith('.'));

      const huge = rawUpload(url, token, ACME, [
        { name: 'good.pdf', bytes: 50_000 },
        { name: 'huge.pdf', bytes: 8 * maxBytes },
        { name: 'after.pdf', bytes: 50_000 },
      ]);
      const tooLarge = await huge.response;
      assert.deepEqual([tooLarge.status, tooLarge.body.code], [413, 'upload_too_large']);
      assert.match(String(tooLarge.body.error), /huge\.pdf is larger than 1048576 bytes \(API_MAX_UPLOAD_BYTES\)/);
      await within(huge.sent, 20_000, 'the too-large upload sent whole');

      const form = new FormData();
      form.append('agent_email', ACME);
      form.append('file', new Blob([new Uint8Array(await makePdf(['A good manual.']))]), 'good.pdf');
      form.append('file', new Blob([new Uint8Array(PNG)]), 'picture.pdf');
      const notPdf = await fetch(`${url}/api/documents`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: form });
      assert.deepEqual([notPdf.status, ((await notPdf.json()) as { code: string }).code], [415, 'upload_not_pdf']);

      await waitFor(async () => (await incomingFiles(uploadDir)).length === 0, { timeoutMs: 10_000, what: 'no temporary file after the refusals' });
      assert.deepEqual(await storedFolders(), [], 'nothing of a refused upload is stored');
      assert.deepEqual(await pipeline.documents.list(), []);

      const accepted = await rawUpload(url, token, ACME, [
        { name: 'small.pdf', bytes: 50_000 },
        { name: 'at-the-limit.pdf', bytes: maxBytes },
      ]).response;
      assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
      for (const { document_id: id, filename } of accepted.body.documents as Array<{ document_id: string; filename: string }>) {
        assert.equal((await stat(path.join(uploadDir, id, filename))).size, filename === 'small.pdf' ? 50_000 : maxBytes);
      }
      assert.deepEqual(await incomingFiles(uploadDir), []);
      assert.equal((await storedFolders()).length, 2);
    });
  },
);
