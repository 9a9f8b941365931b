/**
 * Deleting a document removes only its own folder, UPLOAD_DIR/<document_id>, and only when the
 * registry's file is in it: a registry row whose path was forged (the upload folder itself,
 * another document's folder, a nested or outside path) removes nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { ownFolderOf } from '../../src/http/api/documents.js';

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
