/**
 * The embedded vector store: one SQLite file that several worker processes share (WAL mode, busy
 * timeout). Ranking and relevance are two different figures. Ranking is BM25F computed here from
 * the FTS5 index (porter stemming; Chinese, Japanese and Korean runs indexed and queried as
 * character bigrams, see cjk-bigrams.ts) with the namespace's own statistics (chunk count,
 * document frequencies, mean field lengths), over two fields: the chunk's text and the heading of
 * the section it belongs to (weighted twice, see sqlite-bm25f.ts); a query word's weight is its
 * (saturated) frequency in the query text, so a caller weights the subject by repeating it. The
 * query is then expanded by pseudo-relevance feedback (RM3-style: the stems the first ranking's
 * best chunks share, at a small weight), which finds the page that words its answer otherwise
 * than the customer did (measured on the dev set: recall@3 53/68 → 57/68; a boost for adjacent
 * query words lost recall@3, and crediting a section's first page with its later pages' best
 * chunk gained one question at one setting and lost three at the next, so both were left out).
 * Function words are left out of the query and of the feedback in the query's language (detected
 * with eld, see text/language.ts), not only in English: with the French ones left out,
 * recall@3 57/68 → 59/68 (two of the eight French questions gained, none lost). Measured and
 * kept as they were: chunk size and overlap (500 to 1500 and 0 to 300 characters: none above
 * 800/150), k1 0.9 to 2 and b 0.4 to 0.9 (recall@3 52 to 58, no setting better at both @1 and @3),
 * section weight 1 to 4, feedback weight 0.1/0.3 and 5/20 terms; repeating the subject lost.
 * Chunks are then aggregated per page (a page ranks by its best chunk, which represents it), so k
 * results are k different pages. The relevance figure, `score` in [0, 1], is never the sort key: it is the query-weighted, IDF-weighted share of the query's own terms (not
 * the feedback's) that the returned chunk holds, Σ q·idf(term in chunk) / Σ q·idf(term in
 * query), with idf(t) = ln(1 + (N - df + 0.5) / (df + 0.5)); a term found nowhere keeps the
 * largest idf, so a question mostly about something the manuals never mention scores low, and a
 * query none of whose terms occurs returns []. With an embedder, the page rankings of BM25 and of
 * the vectors (cosine) are fused by reciprocal rank fusion, and a result's score is the larger of
 * its lexical share and its cosine similarity rescaled above a floor,
 * max(0, (cos - floor) / (1 - floor)). Every statement that reads chunks filters on the namespace
 * in SQL. Files made by earlier versions are migrated on opening (PRAGMA user_version).
 *
 * Cost (BENCHMARKS.md sections 7 and 10, `npm run bench:retrieval-scale`, `npm run
 * bench:ingestion`). The figures are computed exactly as above for every chunk holding a query or
 * feedback stem, from posting arrays this process keeps per namespace (sqlite-bm25f.ts: read once
 * per stem from the full-text index's rows; dropped on this store's writes to the namespace and
 * when its generation shows another process's), with the
 * chunk count and mean lengths kept by triggers in `namespace_stats`; the stems of the query's and
 * the feedback chunks' words are kept per word. Measured on the dev set and on it copied 15 times
 * into one mailbox: the same pages, scores and ties as before. At 50,000 chunks, once the
 * questions' stems have been read, a query takes 3 to 4 ms of CPU at the median and 7 to 9 ms at
 * p99 (200 ms and 1.5 to 2 s with the MaxScore computation this replaced, same bench and load); a
 * stem read for the first time costs its occurrences in the full-text index (about 0.1 s for the
 * commonest), so the first queries after a write to the mailbox are the slow ones (section 10).
 */
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import * as stopwordLists from 'stopword';
import { detectLanguage } from '../../text/language.js';
import { permanentError } from '../../lib/errors.js';
import type { Embedder } from '../embeddings/spec.js';
import { cjkBigrams } from '../../text/cjk-bigrams.js';
import type { Chunk, ChunkBatches, ScoredChunk, VectorStore } from './spec.js';
import { createBm25f, pageKey } from './sqlite-bm25f.js';

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
/** Words whose stems are kept in memory (a few megabytes), for the query and the feedback's chunks. */
const maxKeptWords = 100_000;
/** Texts per embedding request, within the batch limits of the hosted embedding APIs. */
const embeddingBatchSize = 100;
/** Saturation of a word's frequency in the query: twice as often weighs less than twice as much. */
const queryFrequencySaturation = 4;
/**
 * Pseudo-relevance feedback (RM3's defaults in Anserini: 10 documents, 10 terms): the query is
 * expanded with the stems most of the first ranking's best chunks share, each weighing this much
 * (a query word weighs 1 or more).
 */
const feedbackChunks = 10;
const feedbackTerms = 10;
const feedbackWeight = 0.2;

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

/**
 * Function words of the languages other than English that mail is answered in (the stopword
 * package's lists, by ISO 639-1 code): a French question's "les", "pour", "dans" would otherwise
 * weigh as much as its subject, and fill the feedback terms, which the French manual's chunks
 * share as much as any English chunks share "the".
 */
const lists = stopwordLists as unknown as Record<string, string[]>;
const languageStopwords = new Map(
  Object.entries({ fr: lists.fra, de: lists.deu, es: lists.spa, it: lists.ita, pt: lists.por, nl: lists.nld }).map(([language, words]) => [
    language,
    new Set(words.map((word) => word.toLowerCase())),
  ]),
);
const noWords = new Set<string>();

/**
 * A CJK bigram of hiragana alone: a particle or a verb ending ("の上", "ます"), Japanese's
 * function words, so like the stopwords above it is left out of queries.
 */
const kanaOnly = /^\p{Script=Hiragana}+$/u;

/**
 * Compares strings as their UTF-8 bytes, the order of the index's vocabulary: as UTF-16 code
 * units, unless a character beyond U+FFFF is in either.
 */
const outsideBasicPlane = /[\uD800-\uDFFF]/;
function byteOrder(left: string, right: string): number {
  if (outsideBasicPlane.test(left) || outsideBasicPlane.test(right)) return Buffer.compare(Buffer.from(left), Buffer.from(right));
  return left < right ? -1 : left > right ? 1 : 0;
}

interface ChunkRow {
  id: number;
  document_id: string;
  document_name: string;
  page: number;
  chunk_index: number;
  text: string;
  section: string | null;
  document_title: string | null;
}

/**
 * Searchable words of arbitrary text with how often each occurs, in order of first appearance;
 * `functionWords` are those of the text's language, left out like the English stopwords.
 */
function countQueryWords(text: string, functionWords: Set<string> = noWords): Map<string, number> {
  const tokens =
    cjkBigrams(text)
      .toLowerCase()
      .match(/[\p{L}\p{N}]+/gu) ?? [];
  const counts = new Map<string, number>();
  for (const token of tokens) {
    if ((token.length === 1 && !/\p{N}/u.test(token)) || stopwords.has(token) || functionWords.has(token) || kanaOnly.test(token)) continue;
    if (!counts.has(token) && counts.size === maxQueryTerms) continue;
    counts.set(token, (counts.get(token) ?? 0) + 1);
  }
  return counts;
}

/** The distinct searchable terms of arbitrary text (letters and digits only), as a query counts them. */
export function extractQueryTerms(text: string): string[] {
  return [...countQueryWords(text).keys()];
}

/**
 * PRAGMA user_version of a file whose index holds `search_text` of both fields: what the index
 * holds of a chunk's fields (see cjk-bigrams.ts), the SQL function the triggers apply. Because the
 * index holds this and not the columns themselves, it is filled from SELECTs, never with FTS5's
 * 'rebuild'.
 */
const indexVersion = 2;
/**
 * PRAGMA user_version of a file made now. Version 3 added each namespace's chunk count and summed
 * field lengths in `namespace_stats` (triggers on chunks): the means BM25F needs, without reading
 * every chunk's text at each query (190 ms at 50,000 chunks). Version 4 added each namespace's
 * generation in `namespace_stats`, raised by the same triggers at every write to the namespace,
 * so a process keeps what it holds of the namespaces another process did not write to.
 */
const generationVersion = 4;

/** Between a mailbox and the start time of a replacement in a staging namespace's name: `<mailbox>\0replacing\0<ms>\0<uuid>`. */
const STAGING_MARK = '\u0000replacing\u0000';
/** A staging namespace this old is a dead replacement's leftover. */
const ABANDONED_STAGING_MS = 6 * 60 * 60 * 1000;

const tokenizer = `tokenize = 'porter unicode61 remove_diacritics 2'`;

/** Trigger statements that count a chunk (`row`: new) into its namespace's statistics, and out of them (old). */
const addStatistics = (row: string) => `
    INSERT INTO namespace_stats (namespace, chunks, text_length, section_length, generation)
    VALUES (${row}.namespace, 1, length(${row}.text), coalesce(length(${row}.section), 0), 1)
    ON CONFLICT (namespace) DO UPDATE SET chunks = chunks + 1, text_length = text_length + excluded.text_length,
      section_length = section_length + excluded.section_length, generation = generation + 1;`;
const removeStatistics = `
    UPDATE namespace_stats SET chunks = chunks - 1, text_length = text_length - length(old.text),
      section_length = section_length - coalesce(length(old.section), 0), generation = generation + 1
    WHERE namespace = old.namespace;`;

const schema = `
  CREATE TABLE IF NOT EXISTS chunks (
    id             INTEGER PRIMARY KEY,
    namespace      TEXT NOT NULL,
    document_id    TEXT NOT NULL,
    document_name  TEXT NOT NULL,
    page           INTEGER NOT NULL,
    chunk_index    INTEGER NOT NULL,
    text           TEXT NOT NULL,
    section        TEXT,
    document_title TEXT,
    UNIQUE (namespace, document_id, chunk_index)
  );
  CREATE TABLE IF NOT EXISTS store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    text, section, content = 'chunks', content_rowid = 'id', ${tokenizer}
  );
  CREATE VIRTUAL TABLE IF NOT EXISTS chunks_terms USING fts5vocab(chunks_fts, instance);
  CREATE TABLE IF NOT EXISTS namespace_stats (
    namespace      TEXT PRIMARY KEY,
    chunks         INTEGER NOT NULL,
    text_length    INTEGER NOT NULL,
    section_length INTEGER NOT NULL,
    generation     INTEGER NOT NULL DEFAULT 0
  );
  CREATE TRIGGER IF NOT EXISTS chunks_after_insert AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts (rowid, text, section) VALUES (new.id, search_text(new.text), search_text(new.section));
    ${addStatistics('new')}
  END;
  CREATE TRIGGER IF NOT EXISTS chunks_after_delete AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text, section) VALUES ('delete', old.id, search_text(old.text), search_text(old.section));
    ${removeStatistics}
  END;
  CREATE TRIGGER IF NOT EXISTS chunks_after_update AFTER UPDATE ON chunks BEGIN
    INSERT INTO chunks_fts (chunks_fts, rowid, text, section) VALUES ('delete', old.id, search_text(old.text), search_text(old.section));
    INSERT INTO chunks_fts (rowid, text, section) VALUES (new.id, search_text(new.text), search_text(new.section));
    ${removeStatistics}
    ${addStatistics('new')}
  END;
`;

/**
 * Files made before this index version: chunks get the section and document title columns when
 * they lack them, and the full-text index is made again from the chunks, with the section as a
 * second field and CJK text as bigrams.
 */
function migrate(database: BetterSqlite3.Database): void {
  const columns = database
    .prepare<[], { name: string }>('PRAGMA table_info(chunks)')
    .all()
    .map((column) => column.name);
  const version = database.pragma('user_version', { simple: true }) as number;
  if (columns.length === 0 || version >= generationVersion) return;
  database.exec(`
    DROP TRIGGER IF EXISTS chunks_after_insert;
    DROP TRIGGER IF EXISTS chunks_after_delete;
    DROP TRIGGER IF EXISTS chunks_after_update;
    DROP TABLE IF EXISTS namespace_stats;`);
  if (version < indexVersion) {
    if (!columns.includes('section')) {
      database.exec('ALTER TABLE chunks ADD COLUMN section TEXT; ALTER TABLE chunks ADD COLUMN document_title TEXT;');
    }
    database.exec('DROP TABLE IF EXISTS chunks_fts;');
  }
  database.exec(schema);
  if (version < indexVersion) {
    database.exec('INSERT INTO chunks_fts (rowid, text, section) SELECT id, search_text(text), search_text(section) FROM chunks');
  }
  database.exec(`
    INSERT INTO namespace_stats (namespace, chunks, text_length, section_length)
    SELECT namespace, count(*), sum(length(text)), sum(coalesce(length(section), 0)) FROM chunks GROUP BY namespace`);
}

function openDatabase(options: SqliteVectorStoreOptions): BetterSqlite3.Database {
  if (options.path !== ':memory:') {
    fs.mkdirSync(path.dirname(path.resolve(options.path)), { recursive: true });
  }
  const database = new BetterSqlite3(options.path);
  database.pragma(`busy_timeout = ${busyTimeoutMs}`);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.function('search_text', { deterministic: true }, (text: unknown) => (typeof text === 'string' ? cjkBigrams(text) : null));
  // Always loaded, so a store without an embedder still removes the vectors of deleted chunks.
  sqliteVec.load(database);
  const embedder = options.embedder;
  // IMMEDIATE: processes starting together create the schema one after the other.
  database
    .transaction(() => {
      migrate(database);
      database.exec(schema);
      database.pragma(`user_version = ${generationVersion}`);
      if (!embedder) {
        return;
      }
      const identity = `${embedder.provider}/${embedder.model}/${embedder.dimensions}`;
      const readMeta = database.prepare<[string], { value: string }>('SELECT value FROM store_meta WHERE key = ?');
      const stored = readMeta.get('embedding_model')?.value;
      if (stored !== undefined && stored !== identity) {
        throw permanentError('embedding_model_mismatch', `${options.path} holds vectors of ${stored}, not ${identity}: use a new file or re-ingest into one`);
      }
      database.prepare('INSERT OR IGNORE INTO store_meta (key, value) VALUES (?, ?)').run('embedding_model', identity);
      database.exec(`CREATE VIRTUAL TABLE IF NOT EXISTS chunk_vectors USING vec0(
      chunk_id INTEGER PRIMARY KEY, namespace TEXT PARTITION KEY,
      embedding FLOAT[${embedder.dimensions}] DISTANCE_METRIC = cosine)`);
    })
    .immediate();
  // The query's words go through the index's own tokenizer (this connection's temp schema), so
  // they are stemmed exactly as the chunks were.
  database.exec(`
    CREATE VIRTUAL TABLE temp.query_words USING fts5(word, ${tokenizer});
    CREATE VIRTUAL TABLE temp.query_stems USING fts5vocab(temp, query_words, instance);`);
  return database;
}

/** A page, represented by its best chunk, with the figure it is ranked by. */
interface RankedPage {
  /** Document and page. */
  key: string;
  chunkId: number;
  rank: number;
  score: number;
}

/** Creates the SQLite vector store; see the module comment for ranking and scores. */
export function createSqliteVectorStore(options: SqliteVectorStoreOptions): VectorStore {
  const database = openDatabase(options);
  const embedder = options.embedder;
  const similarityFloor = options.similarityFloor ?? 0.5;
  const hasVectorTable = (): boolean => database.prepare("SELECT 1 FROM sqlite_master WHERE name = 'chunk_vectors'").get() !== undefined;

  const upsertChunk = database.prepare<[string, string, string, number, number, string, string | null, string | null], { id: number }>(`
    INSERT INTO chunks (namespace, document_id, document_name, page, chunk_index, text, section, document_title)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (namespace, document_id, chunk_index) DO UPDATE SET
      document_name = excluded.document_name, page = excluded.page, text = excluded.text,
      section = excluded.section, document_title = excluded.document_title
    RETURNING id`);
  const clearQueryWords = database.prepare('DELETE FROM temp.query_words');
  const insertQueryWords = database.prepare<[string]>('INSERT INTO temp.query_words (rowid, word) SELECT key, value FROM json_each(?)');
  const selectQueryStems = database.prepare<[], { doc: number; term: string }>('SELECT doc, term FROM temp.query_stems');
  /** Word → the stems the index's tokenizer makes of it (most often one), for the words seen lately. */
  const stemsOfWord = new Map<string, string[]>();
  const bm25f = createBm25f(database);
  // "+namespace": by their ids, not by scanning the namespace's index (4 ms at 50,000 chunks).
  const selectByIds = database.prepare<[string, string], ChunkRow>(`
    SELECT id, document_id, document_name, page, chunk_index, text, section, document_title FROM chunks
    WHERE +namespace = ? AND id IN (SELECT value FROM json_each(?)) ORDER BY document_id, chunk_index`);

  async function embedAll(texts: string[], activeEmbedder: Embedder): Promise<Float32Array[]> {
    const vectors: Float32Array[] = [];
    for (let start = 0; start < texts.length; start += embeddingBatchSize) {
      const batch = texts.slice(start, start + embeddingBatchSize);
      const result = await activeEmbedder.embed(batch);
      if (result.length !== batch.length || result.some((vector) => vector.length !== activeEmbedder.dimensions)) {
        throw permanentError('embedding_invalid', `${activeEmbedder.provider}/${activeEmbedder.model} returned vectors of the wrong count or length`);
      }
      vectors.push(...result.map((vector) => Float32Array.from(vector)));
    }
    return vectors;
  }

  /** Embeds (when there is an embedder) and stores chunks, replacing those of the same document and index. */
  async function writeChunks(namespace: string, chunks: Chunk[]): Promise<void> {
    const vectors = embedder
      ? await embedAll(
          chunks.map((chunk) => chunk.text),
          embedder,
        )
      : undefined;
    const vectorTable = hasVectorTable();
    const deleteVector = vectorTable ? database.prepare('DELETE FROM chunk_vectors WHERE chunk_id = ?') : undefined;
    const insertVector = vectors ? database.prepare('INSERT INTO chunk_vectors (chunk_id, namespace, embedding) VALUES (?, ?, ?)') : undefined;
    database
      .transaction(() => {
        chunks.forEach((chunk, index) => {
          const stored = upsertChunk.get(
            namespace,
            chunk.document_id,
            chunk.document_name,
            chunk.page,
            chunk.chunk_index,
            chunk.text,
            chunk.section ?? null,
            chunk.document_title ?? null,
          );
          if (!stored) {
            throw new Error('SQLite returned no id for an upserted chunk');
          }
          const id = stored.id;
          // vec0 takes integer keys only as BigInt; a replaced chunk's old vector goes first.
          deleteVector?.run(BigInt(id));
          insertVector?.run(BigInt(id), namespace, vectors?.[index]);
        });
      })
      .immediate();
  }

  /** Deletes a document's chunks and their vectors; run inside a transaction. */
  function deleteDocumentRows(namespace: string, documentId: string): void {
    if (hasVectorTable()) {
      database
        .prepare('DELETE FROM chunk_vectors WHERE chunk_id IN (SELECT id FROM chunks WHERE namespace = ? AND document_id = ?)')
        .run(namespace, documentId);
    }
    database.prepare('DELETE FROM chunks WHERE namespace = ? AND document_id = ?').run(namespace, documentId);
  }

  /**
   * Removes the staging namespaces of replacements whose process died before finishing or cleaning
   * up (killed, out of memory, a deploy): their chunks would stay in the file, unread, for good. A
   * staging namespace names when it began; one older than {@link ABANDONED_STAGING_MS} is no live
   * ingestion's (an ingestion is bounded by far shorter time limits).
   */
  function sweepAbandonedStagings(): void {
    const before = Date.now() - ABANDONED_STAGING_MS;
    const abandoned = database
      .prepare<[string], string>('SELECT namespace FROM namespace_stats WHERE instr(namespace, ?) > 0')
      .pluck()
      .all(STAGING_MARK)
      .filter((name) => Number(name.slice(name.indexOf(STAGING_MARK) + STAGING_MARK.length).split('\u0000')[0]) < before);
    if (abandoned.length === 0) return;
    database
      .transaction(() => {
        for (const name of abandoned) {
          deleteNamespaceRows(name);
          database.prepare('DELETE FROM namespace_stats WHERE namespace = ?').run(name);
        }
      })
      .immediate();
  }

  /** Deletes every chunk of a namespace and their vectors; run inside a transaction. */
  function deleteNamespaceRows(namespace: string): void {
    if (hasVectorTable()) {
      database.prepare('DELETE FROM chunk_vectors WHERE chunk_id IN (SELECT id FROM chunks WHERE namespace = ?)').run(namespace);
    }
    database.prepare('DELETE FROM chunks WHERE namespace = ?').run(namespace);
  }

  /** The stems of each word, tokenising in one go those not seen lately. */
  function stemWords(words: string[]): string[][] {
    const unknown = [...new Set(words.filter((word) => !stemsOfWord.has(word)))];
    if (unknown.length > 0) {
      const rows = database.transaction(() => {
        clearQueryWords.run();
        insertQueryWords.run(JSON.stringify(unknown));
        return selectQueryStems.all();
      })();
      if (stemsOfWord.size + unknown.length > maxKeptWords) stemsOfWord.clear();
      for (const word of unknown) stemsOfWord.set(word, []);
      for (const { doc, term } of rows) stemsOfWord.get(unknown[doc])!.push(term);
    }
    return words.map((word) => stemsOfWord.get(word)!);
  }

  /**
   * The query's stems with their weights: the saturated count of the words that stem to each. In
   * the order the index's vocabulary lists them (by their UTF-8 bytes), which breaks ranking ties.
   */
  function queryStems(text: string, functionWords: Set<string>): Map<string, number> {
    const words = [...countQueryWords(text, functionWords)];
    const counts = new Map<string, number>();
    stemWords(words.map(([word]) => word)).forEach((stems, index) => {
      for (const stem of stems) counts.set(stem, (counts.get(stem) ?? 0) + words[index][1]);
    });
    const weights = new Map<string, number>();
    for (const [stem, count] of [...counts].sort(([left], [right]) => byteOrder(left, right))) {
      weights.set(stem, (count * (queryFrequencySaturation + 1)) / (count + queryFrequencySaturation));
    }
    return weights;
  }

  /**
   * The stems, not in the query, that at least two of the first ranking's best chunks hold, the
   * most widespread first, each with the feedback weight. The chunks are read as in the query's
   * language, whose function words they share most.
   */
  function feedbackStems(namespace: string, stems: Map<string, number>, best: number[], functionWords: Set<string>): Map<string, number> {
    const counts = new Map<string, number>();
    for (const row of selectByIds.all(namespace, JSON.stringify(best))) {
      for (const stem of queryStems(row.text, functionWords).keys()) {
        if (!stems.has(stem)) counts.set(stem, (counts.get(stem) ?? 0) + 1);
      }
    }
    const shared = [...counts].filter(([, count]) => count >= 2).sort((left, right) => right[1] - left[1]);
    return new Map(shared.slice(0, feedbackTerms).map(([stem]) => [stem, feedbackWeight]));
  }

  /**
   * Pages ranked by their best chunk's BM25F for the query and its feedback stems; the score is
   * that chunk's share of the query alone. Down to the k-th page with a score (or to `limit`).
   */
  function lexicalRanking(namespace: string, text: string, language: string, k: number, limit: number): RankedPage[] {
    const functionWords = languageStopwords.get(language) ?? noWords;
    const stems = queryStems(text, functionWords);
    const scorer = bm25f.open(namespace);
    if (!scorer.ready) return [];
    const queryWeight = scorer.queryWeight(stems);
    scorer.add(stems);
    // BM25F adds up over terms, so the feedback stems' part is added to the query's.
    scorer.add(feedbackStems(namespace, stems, scorer.bestChunks(feedbackChunks), functionWords));
    const pages = scorer.bestPages(limit);
    let withScore = 0;
    const last = pages.findIndex((page) => page.matched > 0 && ++withScore === k);
    return pages
      .slice(0, last === -1 ? limit : last + 1)
      .map((best) => ({ key: pageKey(best.document_id, best.page), chunkId: best.id, rank: best.bm25, score: best.matched / queryWeight }));
  }

  /** Pages ranked by their nearest chunk; the score is its cosine similarity rescaled above the floor. */
  function vectorRanking(namespace: string, queryVector: Float32Array, limit: number): RankedPage[] {
    const nearest = database
      .prepare<[Float32Array, number, string], { chunk_id: number; distance: number; document_id: string; page: number }>(
        `
        SELECT v.chunk_id, v.distance, c.document_id, c.page FROM chunk_vectors AS v JOIN chunks AS c ON c.id = v.chunk_id
        WHERE v.embedding MATCH ? AND v.k = ? AND v.namespace = ? ORDER BY v.distance`,
      )
      .all(queryVector, limit, namespace);
    const pages = new Map<string, RankedPage>();
    for (const hit of nearest) {
      const key = pageKey(hit.document_id, hit.page);
      const similarity = 1 - hit.distance;
      const score = Math.min(1, Math.max(0, (similarity - similarityFloor) / (1 - similarityFloor)));
      if (!pages.has(key)) pages.set(key, { key, chunkId: hit.chunk_id, rank: similarity, score });
    }
    return [...pages.values()];
  }

  /** Reciprocal rank fusion of page rankings; a page keeps the first ranking's chunk and its best score. */
  function fuse(rankings: RankedPage[][]): RankedPage[] {
    const fused = new Map<string, RankedPage>();
    for (const ranking of rankings) {
      ranking.forEach((page, index) => {
        const entry = fused.get(page.key) ?? { ...page, rank: 0, score: 0 };
        entry.score = Math.max(entry.score, page.score);
        entry.rank += 1 / (reciprocalRankConstant + index + 1);
        fused.set(page.key, entry);
      });
    }
    return [...fused.values()].sort((left, right) => right.rank - left.rank || right.score - left.score);
  }

  return {
    provider: 'sqlite',
    name: options.path,

    async upsert(namespace: string, chunks: Chunk[]): Promise<void> {
      await writeChunks(namespace, chunks);
      bm25f.forget(namespace);
    },

    async deleteDocument(namespace: string, documentId: string): Promise<void> {
      database.transaction(() => deleteDocumentRows(namespace, documentId)).immediate();
      bm25f.forget(namespace);
    },

    async replaceDocument(namespace: string, documentId: string, batches: ChunkBatches): Promise<void> {
      // The new chunks are written batch by batch under a namespace of their own, which no query
      // reads; one transaction then drops the old chunks and moves the new ones in. A query sees
      // the old document or the new one, never a mix or neither, and a failure leaves the old one.
      const staging = `${namespace}${STAGING_MARK}${Date.now()}\u0000${randomUUID()}`;
      sweepAbandonedStagings();
      try {
        for await (const batch of batches) await writeChunks(staging, batch);
        database
          .transaction(() => {
            deleteDocumentRows(namespace, documentId);
            if (hasVectorTable()) {
              const selectVector = database.prepare<[bigint], { embedding: Buffer }>('SELECT embedding FROM chunk_vectors WHERE chunk_id = ?');
              const deleteVector = database.prepare('DELETE FROM chunk_vectors WHERE chunk_id = ?');
              const insertVector = database.prepare('INSERT INTO chunk_vectors (chunk_id, namespace, embedding) VALUES (?, ?, ?)');
              // vec0 cannot update a partition key: each vector is moved, one at a time.
              for (const { id } of database.prepare<[string], { id: number }>('SELECT id FROM chunks WHERE namespace = ?').all(staging)) {
                const vector = selectVector.get(BigInt(id));
                if (!vector) continue;
                deleteVector.run(BigInt(id));
                insertVector.run(BigInt(id), namespace, vector.embedding);
              }
            }
            database.prepare('UPDATE chunks SET namespace = ? WHERE namespace = ?').run(namespace, staging);
            database.prepare('DELETE FROM namespace_stats WHERE namespace = ?').run(staging);
          })
          .immediate();
      } catch (error) {
        database
          .transaction(() => {
            deleteNamespaceRows(staging);
            database.prepare('DELETE FROM namespace_stats WHERE namespace = ?').run(staging);
          })
          .immediate();
        throw error;
      } finally {
        bm25f.forget(namespace);
      }
    },

    async query(namespace: string, text: string, k: number): Promise<ScoredChunk[]> {
      if (!Number.isFinite(k) || k < 1) {
        return [];
      }
      const limit = Math.max(Math.floor(k) * 5, 50);
      // Fusion uses the lexical ranking all the way down to the limit; alone, only its first k pages with a score.
      let ranked = lexicalRanking(namespace, text, await detectLanguage(text), embedder ? limit : Math.floor(k), limit);
      if (embedder && text.trim().length > 0) {
        const [queryVector] = await embedAll([text], embedder);
        ranked = fuse([ranked, vectorRanking(namespace, queryVector, limit)]);
      }
      const top = ranked.filter((page) => page.score > 0).slice(0, Math.floor(k));
      const rows = new Map(selectByIds.all(namespace, JSON.stringify(top.map((page) => page.chunkId))).map((row) => [row.id, row]));
      return top.flatMap(({ chunkId, score }) => {
        const row = rows.get(chunkId);
        if (!row) return [];
        return [
          {
            document_id: row.document_id,
            document_name: row.document_name,
            page: row.page,
            chunk_index: row.chunk_index,
            text: row.text,
            ...(row.section === null ? {} : { section: row.section }),
            ...(row.document_title === null ? {} : { document_title: row.document_title }),
            score,
          },
        ];
      });
    },

    async close(): Promise<void> {
      if (database.open) {
        database.close();
      }
    },
  };
}
