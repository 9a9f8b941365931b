/**
 * Deleting a document removes only its own folder, UPLOAD_DIR/<document_id>, and only when the
 * registry's file is in it: a registry row whose path was forged (the upload folder itself,
 * another document's folder, a nested or outside path) removes nothing. A new upload replaces the
 * file whole.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { mkdtemp, open, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { ownFolderOf } from '../../src/http/api/documents.js';
import { storeDocument } from '../../src/features/documents.js';

const uploads = path.resolve('/srv/ragmail/uploads');

test("a document's own folder is removed; the upload folder, another document's and outside paths never", () => {
  assert.equal(ownFolderOf(uploads, { document_id: 'doc-1', path: path.join(uploads, 'doc-1', 'manual.pdf') }), path.join(uploads, 'doc-1'));
  const refused: Array<[string, string]> = [
    ['doc-1', path.join(uploads, 'manual.pdf')],
    ['doc-1', path.join(uploads, 'doc-2', 'manual.pdf')],
    ['doc-1', '/etc/passwd'],
    ['doc-1', ''],
    ['doc-1', path.join(uploads, 'doc-1')],
    ['.', path.join(uploads, 'manual.pdf')],
    ['..', path.join(uploads, 'manual.pdf')],
    ['doc-2/inner', path.join(uploads, 'doc-2', 'inner', 'manual.pdf')],
  ];
  for (const [documentId, file] of refused) assert.equal(ownFolderOf(uploads, { document_id: documentId, path: file }), undefined, `${documentId} ${file}`);
});

test('a new upload of a document replaces its file whole: a reader of the previous one keeps reading it, and no partial file stays', async () => {
  const uploadDir = await mkdtemp(path.join(tmpdir(), 'ragmail-uploads-'));
  try {
    const upload = { agentEmail: 'support@acme.example', filename: 'manual.pdf' };
    const first = await storeDocument(uploadDir, { ...upload, data: Buffer.from('%PDF first version '.repeat(1_000)) });
    // The ingester's PDF reader holds the file open and reads it again later (a long document is reopened from its descriptor).
    const reading = await open(first.path, 'r');
    try {
      const second = await storeDocument(uploadDir, { ...upload, data: Buffer.from('%PDF second ') });
      assert.equal(second.path, first.path);
      assert.equal((await reading.readFile()).toString(), '%PDF first version '.repeat(1_000), 'the open file is the first version, whole');
      assert.equal(await readFile(first.path, 'utf8'), '%PDF second ');
      assert.deepEqual(await readdir(path.dirname(first.path)), ['manual.pdf']);
    } finally {
      await reading.close();
    }
  } finally {
    await rm(uploadDir, { recursive: true, force: true });
  }
});
