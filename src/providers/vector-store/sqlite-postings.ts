/**
 * Each document's postings, stored beside its chunks: per (namespace, stem, document) one row
 * holding, for every chunk of the document whose text or section heading holds the stem, the
 * chunk's id and how often the stem occurs in each field (varints, see `encode`). A stem's
 * postings in a namespace are then one range of a few rows (one per document) instead of its
 * occurrences in the full-text index over every namespace, each parsed (see
 * {@link createPostingsReader}; BENCHMARKS.md section 10). The stems are the index's own: the
 * document's chunks go through a temporary FTS5 table with the same tokenizer and the same
 * `search_text` of both fields, and its `fts5vocab` rows are counted. The store rewrites a
 * document's rows in the transaction that writes its chunks.
 */
import type BetterSqlite3 from 'better-sqlite3';

const space = ' '.charCodeAt(0);
const sectionMark = 's'.charCodeAt(0);
const zero = '0'.charCodeAt(0);

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
  // Per stem, its occurrences as one string, "id" or "id" + "s" (in the section) each: several
  // times faster than a row each (measured). Read whole before writing: a connection does not
  // write while one of its statements is being read.
  const stems = database
    .prepare<[], [string, string]>("SELECT term, group_concat(doc || iif(col = 'section', 's', ''), ' ') FROM temp.document_stems GROUP BY term")
    .raw()
    .all();
  for (const [stem, occurrences] of stems) {
    /** Chunk id → its index in `entries`. */
    const positions = new Map<number, number>();
    const entries: number[] = [];
    let id = 0;
    let inSection = false;
    for (let index = 0; index <= occurrences.length; index++) {
      const code = index < occurrences.length ? occurrences.charCodeAt(index) : space;
      if (code === space) {
        let position = positions.get(id);
        if (position === undefined) {
          position = entries.length;
          positions.set(id, position);
          entries.push(id, 0, 0);
        }
        entries[position + (inSection ? 2 : 1)]++;
        id = 0;
        inSection = false;
      } else if (code === sectionMark) inSection = true;
      else id = id * 10 + code - zero;
    }
    insert.run(namespace, stem, documentId, encode(entries));
  }
  database.prepare('DELETE FROM temp.document_words').run();
}

/**
 * A row's blob: per chunk, ascending, the id's difference from the previous one (the first: the
 * id), the stem's count in the text, then in the section, each a varint (7 bits a byte, low bits
 * first). About 3 bytes a chunk where three 32-bit integers took 12: at 50,000 chunks the
 * table is 34 MB instead of 84 (the chunks' own table is 41 MB).
 */
function encode(entries: number[]): Buffer {
  const order = Array.from({ length: entries.length / 3 }, (_unused, index) => index * 3).sort((left, right) => entries[left] - entries[right]);
  const bytes: number[] = [];
  const varint = (value: number) => {
    while (value >= 0x80) {
      bytes.push((value & 0x7f) | 0x80);
      value >>>= 7;
    }
    bytes.push(value);
  };
  let previous = 0;
  for (const start of order) {
    varint(entries[start] - previous);
    previous = entries[start];
    varint(entries[start + 1]);
    varint(entries[start + 2]);
  }
  return Buffer.from(bytes);
}

/** Writes the postings of every document in the file (a file made before they were stored). */
export function writeAllPostings(database: BetterSqlite3.Database): void {
  const documents = database.prepare<[], { namespace: string; document_id: string }>('SELECT DISTINCT namespace, document_id FROM chunks').all();
  for (const { namespace, document_id } of documents) writeDocumentPostings(database, namespace, document_id);
}

/**
 * Reads a stem's postings in a namespace: calls `entry` for each chunk holding it, in no particular
 * order. The rows are kept in stem order, so this is one range of the table: at 50,000 chunks
 * 0.02 to 0.1 ms of SQL where the index's own rows took 0.04 ms for a rare stem and 5 ms for one
 * in over 10,000 chunks (measured; then the occurrences were parsed, one per posting at least).
 * The price is paid at ingestion: a document's few thousand stems are written all over the
 * table (in document order, with an index by stem, a stem's rows cost 0.2 to 0.4 ms to read).
 */
export function createPostingsReader(database: BetterSqlite3.Database) {
  const select = database.prepare<[string, string], Buffer>('SELECT postings FROM stem_postings WHERE namespace = ? AND stem = ?').pluck();
  return (namespace: string, stem: string, entry: (id: number, text: number, section: number) => void): void => {
    for (const blob of select.iterate(namespace, stem)) {
      let index = 0;
      const varint = () => {
        let value = 0;
        let shift = 0;
        let byte: number;
        do {
          byte = blob[index++];
          value += (byte & 0x7f) * 2 ** shift;
          shift += 7;
        } while (byte & 0x80);
        return value;
      };
      let id = 0;
      while (index < blob.length) {
        id += varint();
        entry(id, varint(), varint());
      }
    }
  };
}
