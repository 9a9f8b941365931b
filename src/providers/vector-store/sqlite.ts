/**
 * The embedded vector store: one SQLite file that several worker processes share (WAL mode, busy
 * timeout). Lexical retrieval with FTS5 always; with an embedder, vectors in a sqlite-vec `vec0`
 * table too, and the two rankings fused by reciprocal rank fusion.
 *
 * Tenant isolation: every statement that reads chunks filters on the namespace in SQL, and the
 * statistics behind the score (document frequencies, chunk count) are the namespace's own.
 *
 * Score, in [0, 1]:
 * - lexical: the IDF-weighted fraction of the query's terms that the chunk contains,
 *   Σ idf(term in chunk) / Σ idf(term in query), with idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5))
 *   over the N chunks of the namespace (the BM25 idf, always positive). A term found in no chunk
 *   keeps the largest weight, so a question mostly about something the manuals never mention
 *   scores low; a query none of whose terms occurs anywhere returns [].
 * - semantic: the cosine similarity rescaled above a floor, max(0, (cos - floor) / (1 - floor)),
 *   because embedding models rate unrelated texts well above 0.
 * - hybrid: results are ordered by reciprocal rank fusion (k = 60) of the lexical ranking (BM25
 *   candidates ordered by lexical score) and the vector ranking; each result's score is the larger
 *   of its lexical and semantic scores, and results scoring 0 are dropped.
 */
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import { permanentError } from '../../errors.js';
import type { Embedder } from '../embeddings/spec.js';
import type { Chunk, ScoredChunk, VectorStore } from './spec.js';

/** Options of {@link createSqliteVectorStore}. */
export interface SqliteVectorStoreOptions {
  /** The SQLite file; its folder is created when missing. `:memory:` works for one process. */
  path: string;
  /** When given, chunks are embedded on upsert and queries are hybrid (lexical + vector). */
  embedder?: Embedder;
  /** Cosine similarity that counts as unrelated (semantic score 0). Default 0.5. */
  similarityFloor?: number;
}

const busyTimeoutMs = 5000;
const reciprocalRankConstant = 60;
/** Long emails are cut to this many distinct terms, in order of appearance. */
const maxQueryTerms = 64;
/** Texts per embedding request, within the batch limits of the hosted embedding APIs. */
const embeddingBatchSize = 100;

/** Words that carry no subject: English function words, email pleasantries and filler. */
const stopwords = new Set(
  (
    'a about above after again against all am an and any are as at be because been before being below ' +
    'between both but by can could did do does doing down during each few for from further had has have ' +
    'having he her here hers herself him himself his how i if in into is it its itself just me more most ' +
    'my myself no nor not now of off on once only or other our ours ourselves out over own same she should ' +
    'so some such than that the their theirs them themselves then there these they this those through to ' +
    'too under until up very was we were what when where which while who whom why will with would you your ' +
    'yours yourself yourselves near also get got im ive dont cant please thanks thank hi hello hey dear ' +
    'regards best kind cheers sincerely team like want wanted need know tell ask asking wondering ' +
    'question really much many anything something thing way already yet still just even maybe let ' +
    'could might may must us one'
  ).split(' '),
);

interface ChunkRow {
  id: number;
  document_id: string;
  document_name: string;
  page: number;
  chunk_index: number;
  text: string;
}

interface RankedChunk {
  row: ChunkRow;
  score: number;
}

/**
 * The distinct searchable terms of arbitrary text, safe to quote in an FTS5 MATCH: only letters
 * and digits survive, so no input can form FTS syntax.
 */
export function extractQueryTerms(text: string): string[] {
  const tokens = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  const terms = new Set<string>();
  for (const token of tokens) {
    if ((token.length > 1 || /\p{N}/u.test(token)) && !stopwords.has(token)) {
      terms.add(token);
    }
    if (terms.size === maxQueryTerms) {
      break;
    }
  }
  return [...terms];
}

function inverseDocumentFrequency(chunkCount: number, documentFrequency: number): number {
  return Math.log(1 + (chunkCount - documentFrequency + 0.5) / (documentFrequency + 0.5));
}

const schema = `
  CREATE TABLE IF NOT EXISTS chunks (
    id            INTEGER PRIMARY KEY,
    namespace     TEXT NOT NULL,
    document_id   TEXT NOT NULL,
    document_name TEXT NOT NULL,
    page          INTEGER NOT NULL,
    chunk_index   INTEGER NOT NULL,
    text          TEXT NOT NULL,
    UNIQUE (namespace, document_id, chunk_index)
  );
  CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, content = 'chunks', content_rowid = 'id', tokenize = 'porter unicode61 remove_diacritics 2'
  );
  CREATE TRIGGER IF NOT EXISTS chunks_after_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
  END;
  CREATE TRIGGER IF NOT EXISTS chunks_after_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
  END;
  CREATE TRIGGER IF NOT EXISTS chunks_after_update AFTER UPDATE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text);
  END;
`;

function openDatabase(options: SqliteVectorStoreOptions): BetterSqlite3.Database {
  if (options.path !== ':memory:') {
    fs.mkdirSync(path.dirname(path.resolve(options.path)), { recursive: true });
  }
  const database = new BetterSqlite3(options.path);
  database.pragma(`busy_timeout = ${busyTimeoutMs}`);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  // Always loaded, so a store without an embedder still removes the vectors of deleted chunks.
  sqliteVec.load(database);
  const embedder = options.embedder;
  // IMMEDIATE: processes starting together create the schema one after the other.
  database.transaction(() => {
    database.exec(schema);
    if (!embedder) {
      return;
    }
    const identity = `${embedder.provider}/${embedder.model}/${embedder.dimensions}`;
    const readMeta = database.prepare<[string], { value: string }>('SELECT value FROM store_meta WHERE key = ?');
    const stored = readMeta.get('embedding_model')?.value;
    if (stored !== undefined && stored !== identity) {
      throw permanentError(
        'embedding_model_mismatch',
        `${options.path} holds vectors of ${stored}, not ${identity}: use a new file or re-ingest into one`,
      );
    }
    database.prepare('INSERT OR IGNORE INTO store_meta (key, value) VALUES (?, ?)').run('embedding_model', identity);
    database.exec(`CREATE VIRTUAL TABLE IF NOT EXISTS chunk_vectors USING vec0(
      chunk_id INTEGER PRIMARY KEY, namespace TEXT PARTITION KEY,
      embedding FLOAT[${embedder.dimensions}] DISTANCE_METRIC = cosine)`);
  }).immediate();
  return database;
}

/** Creates the SQLite vector store; see the module comment for how scores are computed. */
export function createSqliteVectorStore(options: SqliteVectorStoreOptions): VectorStore {
  const database = openDatabase(options);
  const embedder = options.embedder;
  const similarityFloor = options.similarityFloor ?? 0.5;
  const hasVectorTable = (): boolean =>
    database.prepare("SELECT 1 FROM sqlite_master WHERE name = 'chunk_vectors'").get() !== undefined;

  const upsertChunk = database.prepare<[string, string, string, number, number, string], { id: number }>(`
    INSERT INTO chunks (namespace, document_id, document_name, page, chunk_index, text)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (namespace, document_id, chunk_index) DO UPDATE SET
      document_name = excluded.document_name, page = excluded.page, text = excluded.text
    RETURNING id`);
  const countChunks = database.prepare<[string], { count: number }>(
    'SELECT count(*) AS count FROM chunks WHERE namespace = ?',
  );
  const selectCandidates = database.prepare<[string, string, number], ChunkRow>(`
    SELECT c.id, c.document_id, c.document_name, c.page, c.chunk_index, c.text
    FROM chunks_fts JOIN chunks AS c ON c.id = chunks_fts.rowid
    WHERE chunks_fts MATCH ? AND c.namespace = ?
    ORDER BY bm25(chunks_fts) LIMIT ?`);
  const countTerm = database.prepare<[string, string], { count: number }>(`
    SELECT count(*) AS count FROM chunks_fts JOIN chunks AS c ON c.id = chunks_fts.rowid
    WHERE chunks_fts MATCH ? AND c.namespace = ?`);
  const termAmong = database.prepare<[string, string], { id: number }>(`
    SELECT rowid AS id FROM chunks_fts
    WHERE chunks_fts MATCH ? AND rowid IN (SELECT value FROM json_each(?))`);
  const selectByIds = database.prepare<[string, string], ChunkRow>(`
    SELECT id, document_id, document_name, page, chunk_index, text FROM chunks
    WHERE namespace = ? AND id IN (SELECT value FROM json_each(?))`);

  async function embedAll(texts: string[], activeEmbedder: Embedder): Promise<Float32Array[]> {
    const vectors: Float32Array[] = [];
    for (let start = 0; start < texts.length; start += embeddingBatchSize) {
      const batch = texts.slice(start, start + embeddingBatchSize);
      const result = await activeEmbedder.embed(batch);
      if (result.length !== batch.length || result.some((vector) => vector.length !== activeEmbedder.dimensions)) {
        throw permanentError(
          'embedding_invalid',
          `${activeEmbedder.provider}/${activeEmbedder.model} returned vectors of the wrong count or length`,
        );
      }
      vectors.push(...result.map((vector) => Float32Array.from(vector)));
    }
    return vectors;
  }

  function lexicalRanking(namespace: string, terms: string[], limit: number): RankedChunk[] {
    const candidates = selectCandidates.all(terms.map((term) => `"${term}"`).join(' OR '), namespace, limit);
    if (candidates.length === 0) {
      return [];
    }
    const chunkCount = countChunks.get(namespace)?.count ?? 0;
    const candidateIds = JSON.stringify(candidates.map((row) => row.id));
    const matchedWeight = new Map<number, number>();
    let queryWeight = 0;
    for (const term of terms) {
      const documentFrequency = countTerm.get(`"${term}"`, namespace)?.count ?? 0;
      const weight = inverseDocumentFrequency(chunkCount, documentFrequency);
      queryWeight += weight;
      if (documentFrequency > 0) {
        for (const { id } of termAmong.all(`"${term}"`, candidateIds)) {
          matchedWeight.set(id, (matchedWeight.get(id) ?? 0) + weight);
        }
      }
    }
    // Candidates arrive in BM25 order; the stable sort keeps it among equal scores.
    return candidates
      .map((row) => ({ row, score: (matchedWeight.get(row.id) ?? 0) / queryWeight }))
      .filter((ranked) => ranked.score > 0)
      .sort((left, right) => right.score - left.score);
  }

  function vectorRanking(namespace: string, queryVector: Float32Array, limit: number): RankedChunk[] {
    const nearest = database
      .prepare<[Float32Array, number, string], { chunk_id: number; distance: number }>(`
        SELECT chunk_id, distance FROM chunk_vectors
        WHERE embedding MATCH ? AND k = ? AND namespace = ? ORDER BY distance`)
      .all(queryVector, limit, namespace);
    const rows = new Map(
      selectByIds.all(namespace, JSON.stringify(nearest.map((hit) => hit.chunk_id))).map((row) => [row.id, row]),
    );
    return nearest.flatMap((hit) => {
      const row = rows.get(hit.chunk_id);
      const similarity = 1 - hit.distance;
      const score = Math.min(1, Math.max(0, (similarity - similarityFloor) / (1 - similarityFloor)));
      return row ? [{ row, score }] : [];
    });
  }

  function fuse(rankings: RankedChunk[][]): RankedChunk[] {
    const fused = new Map<number, { row: ChunkRow; score: number; fusion: number }>();
    for (const ranking of rankings) {
      ranking.forEach(({ row, score }, index) => {
        const entry = fused.get(row.id) ?? { row, score: 0, fusion: 0 };
        entry.score = Math.max(entry.score, score);
        entry.fusion += 1 / (reciprocalRankConstant + index + 1);
        fused.set(row.id, entry);
      });
    }
    return [...fused.values()]
      .filter((entry) => entry.score > 0)
      .sort((left, right) => right.fusion - left.fusion || right.score - left.score);
  }

  return {
    provider: 'sqlite',
    name: options.path,

    async upsert(namespace: string, chunks: Chunk[]): Promise<void> {
      const vectors = embedder ? await embedAll(chunks.map((chunk) => chunk.text), embedder) : undefined;
      const vectorTable = hasVectorTable();
      const deleteVector = vectorTable ? database.prepare('DELETE FROM chunk_vectors WHERE chunk_id = ?') : undefined;
      const insertVector = vectors
        ? database.prepare('INSERT INTO chunk_vectors (chunk_id, namespace, embedding) VALUES (?, ?, ?)')
        : undefined;
      database.transaction(() => {
        chunks.forEach((chunk, index) => {
          const stored = upsertChunk.get(
            namespace, chunk.document_id, chunk.document_name, chunk.page, chunk.chunk_index, chunk.text,
          );
          if (!stored) {
            throw new Error('SQLite returned no id for an upserted chunk');
          }
          const id = stored.id;
          // vec0 takes integer keys only as BigInt; a replaced chunk's old vector goes first.
          deleteVector?.run(BigInt(id));
          insertVector?.run(BigInt(id), namespace, vectors?.[index]);
        });
      }).immediate();
    },

    async deleteDocument(namespace: string, documentId: string): Promise<void> {
      database.transaction(() => {
        if (hasVectorTable()) {
          database
            .prepare(`DELETE FROM chunk_vectors WHERE chunk_id IN
              (SELECT id FROM chunks WHERE namespace = ? AND document_id = ?)`)
            .run(namespace, documentId);
        }
        database.prepare('DELETE FROM chunks WHERE namespace = ? AND document_id = ?').run(namespace, documentId);
      }).immediate();
    },

    async query(namespace: string, text: string, k: number): Promise<ScoredChunk[]> {
      if (!Number.isFinite(k) || k < 1) {
        return [];
      }
      const limit = Math.max(Math.floor(k) * 5, 50);
      const terms = extractQueryTerms(text);
      const lexical = terms.length > 0 ? lexicalRanking(namespace, terms, limit) : [];
      let ranked = lexical;
      if (embedder && text.trim().length > 0) {
        const [queryVector] = await embedAll([text], embedder);
        ranked = fuse([lexical, vectorRanking(namespace, queryVector, limit)]);
      }
      return ranked.slice(0, Math.floor(k)).map(({ row, score }) => ({
        document_id: row.document_id,
        document_name: row.document_name,
        page: row.page,
        chunk_index: row.chunk_index,
        text: row.text,
        score,
      }));
    },

    async close(): Promise<void> {
      if (database.open) {
        database.close();
      }
    },
  };
}
