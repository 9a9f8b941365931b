/**
 * Each document's postings, stored beside its chunks: per (namespace, stem, document) one row
 * holding, for every chunk of the document whose text or section heading holds the stem, the
 * chunk's id and how often the stem occurs in each field (three 32-bit integers, in the machine's
 * byte order). A stem's postings in a namespace are then one index range of a few rows (one per
 * document) instead of its occurrences in the full-text index over every namespace, which cost
 * about 0.1 s for the commonest stem of a 50,000-chunk mailbox and made the first queries after an
 * ingestion slow (BENCHMARKS.md section 10). The stems are the index's own: the document's chunks
 * go through a temporary FTS5 table with the same tokenizer and the same `search_text` of both
 * fields, and its `fts5vocab` rows are counted. The store rewrites a document's rows in the
 * transaction that writes its chunks.
 */
import type BetterSqlite3 from 'better-sqlite3';

/** Integers per chunk in a row's blob: the chunk's id, the stem's count in its text, in its section. */
const entryWidth = 3;

export const postingsSchema = `
  CREATE TABLE IF NOT EXISTS stem_postings (
    namespace   TEXT NOT NULL,
    stem        TEXT NOT NULL,
    document_id TEXT NOT NULL,
    postings    BLOB NOT NULL,
    PRIMARY KEY (namespace, stem, document_id)
  ) WITHOUT ROWID;
  CREATE INDEX IF NOT EXISTS stem_postings_by_document ON stem_postings (namespace, document_id);
`;

/** The temporary tables the stems of a document's chunks are counted in (this connection's temp schema). */
export function createPostingsTables(database: BetterSqlite3.Database, tokenizer: string): void {
  database.exec(`
    CREATE VIRTUAL TABLE temp.document_words USING fts5(text, section, ${tokenizer});
    CREATE VIRTUAL TABLE temp.document_stems USING fts5vocab(temp, document_words, instance);`);
}

/** Removes a document's postings. */
export function deleteDocumentPostings(database: BetterSqlite3.Database, namespace: string, documentId: string): void {
  database.prepare('DELETE FROM stem_postings WHERE namespace = ? AND document_id = ?').run(namespace, documentId);
}

/**
 * Writes a document's postings again from its chunks as stored. To be called inside the
 * transaction that changed them; needs {@link createPostingsTables} on this connection.
 */
export function writeDocumentPostings(database: BetterSqlite3.Database, namespace: string, documentId: string): void {
  deleteDocumentPostings(database, namespace, documentId);
  database.prepare('DELETE FROM temp.document_words').run();
  database
    .prepare(
      `INSERT INTO temp.document_words (rowid, text, section)
       SELECT id, search_text(text), search_text(section) FROM chunks WHERE namespace = ? AND document_id = ?`,
    )
    .run(namespace, documentId);
  const insert = database.prepare<[string, string, string, Buffer]>('INSERT INTO stem_postings (namespace, stem, document_id, postings) VALUES (?, ?, ?, ?)');
  // One row per occurrence, by stem, then chunk: counted per chunk and field, written per stem.
  const rows = database.prepare<[], [string, number, string]>('SELECT term, doc, col FROM temp.document_stems').raw();
  let stem: string | undefined;
  let entries: number[] = [];
  const flush = () => {
    if (stem !== undefined) insert.run(namespace, stem, documentId, Buffer.from(Int32Array.from(entries).buffer));
    entries = [];
  };
  // All read before writing: a connection does not write while a statement of it is being read.
  for (const [term, id, column] of rows.all()) {
    if (term !== stem) {
      flush();
      stem = term;
    }
    if (entries.length === 0 || entries[entries.length - entryWidth] !== id) entries.push(id, 0, 0);
    entries[entries.length - (column === 'section' ? 1 : 2)]++;
  }
  flush();
  database.prepare('DELETE FROM temp.document_words').run();
}

/** Writes the postings of every document in the file (a file made before they were stored). */
export function writeAllPostings(database: BetterSqlite3.Database): void {
  const documents = database.prepare<[], { namespace: string; document_id: string }>('SELECT DISTINCT namespace, document_id FROM chunks').all();
  for (const { namespace, document_id } of documents) writeDocumentPostings(database, namespace, document_id);
}

/** Reads a stem's postings in a namespace: calls `entry` for each chunk holding it (in no particular order). */
export function createPostingsReader(database: BetterSqlite3.Database) {
  const select = database.prepare<[string, string], Buffer>('SELECT postings FROM stem_postings WHERE namespace = ? AND stem = ?').pluck();
  return (namespace: string, stem: string, entry: (id: number, text: number, section: number) => void): void => {
    for (const blob of select.iterate(namespace, stem)) {
      // A typed array over the blob needs its start aligned to 4 bytes; otherwise a copy.
      const bytes = blob.byteOffset % 4 === 0 ? blob : Uint8Array.from(blob);
      const entries = new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      for (let index = 0; index < entries.length; index += entryWidth) entry(entries[index], entries[index + 1], entries[index + 2]);
    }
  };
}
