/**
 * The BM25F figures of the SQLite store (see sqlite.ts for what is ranked and why), computed
 * exactly, but only for the chunks that can reach the part of a ranking a query needs: the
 * feedback's ten best chunks, the pages down to the k-th one returned. This is MaxScore (Turtle and
 * Flood, 1995): a term adds less than weight · idf · (k1 + 1) to any chunk, so once the exact
 * scores of a few chunks show that the terms not yet read add up to less than the figure needed,
 * a chunk holding none of the terms read cannot reach it, and one that holds some needs only its
 * bound checked. Terms are read rarest-first (highest bound), each as its index rows
 * (`fts5vocab`, cost in proportion to its occurrences); the common terms ("set" in 20,000 of
 * 50,000 chunks) are then mostly never read, their frequencies in the few chunks still in the
 * running taken from those chunks' own text, tokenised again by a temporary FTS5 table with the
 * index's tokenizer (so stemmed exactly alike). Ties are broken as the full computation broke them
 * (the order chunks were first met: by the first query stem they hold, then by id).
 *
 * Per-namespace figures are kept in memory: the chunk count and mean field lengths (from
 * `namespace_stats`, kept by triggers) and each stem's document frequency (counted by an FTS5
 * MATCH in C). They are dropped when this store writes to the namespace, and all of them when
 * PRAGMA data_version says another connection (another worker process's ingestion) committed.
 */
import type BetterSqlite3 from 'better-sqlite3';

/** BM25 term-frequency saturation and length normalisation (the usual values). */
const k1 = 1.2;
const lengthNormalisation = 0.75;
/** A query word in a chunk's section heading counts this many times one in its text (BM25F). */
export const sectionWeight = 2;
/** Chunks scored exactly at each step, the most promising first, to learn the figure needed. */
const probeChunks = 20;
/** Reading one chunk's text again costs about as much as this many index rows of a term (measured). */
const rowsPerChunkRead = 50;
/** Index rows read before any pruning: the rare terms, whose exact parts cost little. */
const cheapRows = 3000;
/** Leeway for the floating-point sums of bounds compared with exact scores. */
const epsilon = 1e-9;

export function inverseDocumentFrequency(chunkCount: number, documentFrequency: number): number {
  return Math.log(1 + (chunkCount - documentFrequency + 0.5) / (documentFrequency + 0.5));
}

/** A stem of a query (or of its feedback) with its weight, and a word the tokenizer turns into it alone. */
export interface WeightedStem {
  weight: number;
  /** For counting its chunks with MATCH: a stem itself is not always stemmed to itself. */
  word?: string;
}

/** Occurrences of one stem in one chunk, per field. */
interface Fields {
  text: number;
  section: number;
}

interface ChunkFacts {
  id: number;
  document_id: string;
  page: number;
  text_length: number;
  section_length: number;
}

interface NamespaceFacts {
  chunkCount: number;
  meanText: number;
  meanSection: number;
  documentFrequencies: Map<string, number>;
}

interface Term {
  stem: string;
  weight: number;
  idf: number;
  documentFrequency: number;
  /** More than the term can add to any chunk's BM25F. */
  bound: number;
}

/** A chunk's exact figures for a ranking's term groups (the query's, then the feedback's). */
export interface RankedChunk {
  id: number;
  document_id: string;
  page: number;
  /** Σ over groups of Σ over their stems of the stem's BM25F part. */
  bm25: number;
  /** Σ q·idf of the first group's stems the chunk holds. */
  matched: number;
  /** Tie-break, smallest first: [group of the first stem held, its index in the group, chunk id]. */
  order: [number, number, number];
}

/** Compares two chunks (or pages) as the ranking orders them: BM25F, then first met. */
export function rankOrder(left: Pick<RankedChunk, 'bm25' | 'order'>, right: Pick<RankedChunk, 'bm25' | 'order'>): number {
  if (right.bm25 !== left.bm25) return right.bm25 - left.bm25;
  for (let index = 0; index < 3; index++) if (left.order[index] !== right.order[index]) return left.order[index] - right.order[index];
  return 0;
}

/** A page's key: its document and page number. */
export const pageKey = (documentId: string, page: number) => `${page}#${documentId}`;

/**
 * Pages of the scored chunks in rank order, each represented by its best chunk; a page ties as
 * the first of its chunks met.
 */
export function rankPages(scored: RankedChunk[]): RankedChunk[] {
  const pages = new Map<string, { best: RankedChunk; first: RankedChunk['order'] }>();
  for (const chunk of scored) {
    const key = pageKey(chunk.document_id, chunk.page);
    const page = pages.get(key);
    if (!page) {
      pages.set(key, { best: chunk, first: chunk.order });
      continue;
    }
    if (rankOrder(chunk, page.best) < 0) page.best = chunk;
    if (rankOrder({ bm25: 0, order: chunk.order }, { bm25: 0, order: page.first }) < 0) page.first = chunk.order;
  }
  return [...pages.values()]
    .sort((left, right) => rankOrder({ bm25: left.best.bm25, order: left.first }, { bm25: right.best.bm25, order: right.first }))
    .map((page) => page.best);
}

/** The ids of the unscored chunks with the largest partial sums, without sorting them all. */
function mostPromising(partial: Map<number, number>, scored: Map<number, unknown>): number[] {
  const best: Array<[number, number]> = [];
  for (const [id, sum] of partial) {
    if (scored.has(id) || (best.length === probeChunks && sum <= best[best.length - 1][1])) continue;
    let index = best.length;
    while (index > 0 && best[index - 1][1] < sum) index--;
    best.splice(index, 0, [id, sum]);
    if (best.length > probeChunks) best.pop();
  }
  return best.map(([id]) => id);
}

/** The figures of one namespace and of one query's chunks, computed once per query. */
export interface Bm25fQuery {
  /** False when the namespace holds no chunk. */
  readonly ready: boolean;
  /** Σ q·idf over the stems of `stems` (a stem found nowhere keeps the largest idf). */
  queryWeight(stems: Map<string, WeightedStem>): number;
  /**
   * Every chunk whose BM25F for the groups of stems is at least what `needed` returns for the
   * chunks scored so far (the figure at the position the caller's ranking needs, or -Infinity
   * while they do not reach that position), exactly scored; other chunks may be among them.
   */
  scoreDown(groups: Array<Map<string, WeightedStem>>, needed: (scored: RankedChunk[]) => number): RankedChunk[];
}

/** Builds the per-query scorer over `database` (the store's connection, with its temp tables). */
export function createBm25f(database: BetterSqlite3.Database) {
  const dataVersion = database.prepare<[], number>('PRAGMA data_version').pluck();
  const selectStatistics = database.prepare<[string], { chunks: number; text_length: number; section_length: number }>(
    'SELECT chunks, text_length, section_length FROM namespace_stats WHERE namespace = ?',
  );
  const countMatches = database
    .prepare<[string, string], number>(
      'SELECT count(*) FROM chunks_fts AS f CROSS JOIN chunks AS c ON c.id = f.rowid WHERE f.chunks_fts MATCH ? AND c.namespace = ?',
    )
    .pluck();
  const countInstances = database
    .prepare<[string, string], number>(
      'SELECT count(DISTINCT t.doc) FROM chunks_terms AS t CROSS JOIN chunks AS c ON c.id = t.doc WHERE t.term = ? AND c.namespace = ?',
    )
    .pluck();
  const termInstances = database.prepare<[string, string], ChunkFacts & { field: string; frequency: number }>(`
    SELECT c.id, c.document_id, c.page, length(c.text) AS text_length, coalesce(length(c.section), 0) AS section_length,
           t.field, t.frequency
    FROM (SELECT doc, col AS field, count(*) AS frequency FROM chunks_terms WHERE term = ? GROUP BY doc, col) AS t
    JOIN chunks AS c ON c.id = t.doc
    WHERE c.namespace = ?`);
  const tokeniseChunks = database.prepare<[string]>(`
    INSERT INTO temp.chunk_words (rowid, text, section)
    SELECT id, search_text(text), search_text(section) FROM chunks WHERE id IN (SELECT value FROM json_each(?))`);
  const chunkWords = database.prepare<[string], { doc: number; term: string; field: string; frequency: number }>(`
    SELECT doc, term, col AS field, count(*) AS frequency FROM temp.chunk_word_terms
    WHERE term IN (SELECT value FROM json_each(?)) GROUP BY doc, term, col`);
  // The temporary index is contentless, so it is emptied at once rather than row by row.
  const clearChunkWords = database.prepare("INSERT INTO temp.chunk_words (chunk_words) VALUES ('delete-all')");
  const selectFacts = database.prepare<[string], ChunkFacts>(`
    SELECT id, document_id, page, length(text) AS text_length, coalesce(length(section), 0) AS section_length
    FROM chunks WHERE id IN (SELECT value FROM json_each(?))`);

  const namespaces = new Map<string, NamespaceFacts>();
  let seenVersion: number | undefined;

  function namespaceFacts(namespace: string): NamespaceFacts {
    const version = dataVersion.get();
    if (version !== seenVersion) {
      namespaces.clear();
      seenVersion = version;
    }
    let facts = namespaces.get(namespace);
    if (!facts) {
      const row = selectStatistics.get(namespace);
      const chunkCount = row?.chunks ?? 0;
      facts = {
        chunkCount,
        // As avg() computed them before: integer sums over the count, 1 when empty or zero.
        meanText: (chunkCount > 0 ? (row?.text_length ?? 0) / chunkCount : 0) || 1,
        meanSection: (chunkCount > 0 ? (row?.section_length ?? 0) / chunkCount : 0) || 1,
        documentFrequencies: new Map(),
      };
      namespaces.set(namespace, facts);
    }
    return facts;
  }

  return {
    /** Drops what is kept of a namespace this connection has just written to. */
    forget(namespace: string): void {
      namespaces.delete(namespace);
    },

    open(namespace: string): Bm25fQuery {
      const facts = namespaceFacts(namespace);
      const chunks = new Map<number, ChunkFacts>();
      /** Stems whose every occurrence in the namespace was read: chunk → fields. */
      const postings = new Map<string, Map<number, Fields>>();
      /** Chunks tokenised again: stem → fields, for the stems asked for then. */
      const vectors = new Map<number, { stems: Set<string>; fields: Map<string, Fields> }>();

      function documentFrequency(stem: string, word: string | undefined): number {
        let frequency = postings.get(stem)?.size ?? facts.documentFrequencies.get(stem);
        if (frequency === undefined) {
          frequency = word === undefined ? countInstances.get(stem, namespace)! : countMatches.get(`"${word}"`, namespace)!;
          facts.documentFrequencies.set(stem, frequency);
        }
        return frequency;
      }

      function term(stem: string, { weight, word }: WeightedStem): Term {
        const frequency = documentFrequency(stem, word);
        const idf = inverseDocumentFrequency(facts.chunkCount, frequency);
        return { stem, weight, idf, documentFrequency: frequency, bound: frequency === 0 ? 0 : weight * idf * (k1 + 1) };
      }

      function readPostings(stem: string): Map<number, Fields> {
        let found = postings.get(stem);
        if (found) return found;
        found = new Map();
        for (const row of termInstances.all(stem, namespace)) {
          if (!chunks.has(row.id)) chunks.set(row.id, row);
          const fields = found.get(row.id) ?? { text: 0, section: 0 };
          if (row.field === 'section') fields.section += row.frequency;
          else fields.text += row.frequency;
          found.set(row.id, fields);
        }
        postings.set(stem, found);
        facts.documentFrequencies.set(stem, found.size);
        return found;
      }

      /** The fields of `stem` in chunk `id`: null when it does not occur, undefined when unknown. */
      function fieldsOf(id: number, stem: string): Fields | null | undefined {
        const posting = postings.get(stem);
        if (posting) return posting.get(id) ?? null;
        const vector = vectors.get(id);
        if (vector?.stems.has(stem)) return vector.fields.get(stem) ?? null;
        return undefined;
      }

      /** Reads again the text of the chunks whose frequencies of `stems` are not all known. */
      function tokenise(ids: number[], stems: string[]): void {
        const unknown = ids.filter((id) => !chunks.has(id) || stems.some((stem) => fieldsOf(id, stem) === undefined));
        if (unknown.length === 0) return;
        const idList = JSON.stringify(unknown);
        const rows = database.transaction(() => {
          clearChunkWords.run();
          tokeniseChunks.run(idList);
          return chunkWords.all(JSON.stringify(stems));
        })();
        for (const id of unknown) vectors.set(id, { stems: new Set(stems), fields: new Map() });
        for (const row of rows) {
          const vector = vectors.get(row.doc)!.fields;
          const fields = vector.get(row.term) ?? { text: 0, section: 0 };
          if (row.field === 'section') fields.section += row.frequency;
          else fields.text += row.frequency;
          vector.set(row.term, fields);
        }
        const missing = unknown.filter((id) => !chunks.has(id));
        if (missing.length > 0) for (const row of selectFacts.all(JSON.stringify(missing))) chunks.set(row.id, row);
      }

      /** A term's part of a chunk's BM25F: field frequencies normalised by field length, weighted, saturated. */
      function part(term: Term, fields: Fields, chunk: ChunkFacts): number {
        let frequency = 0;
        if (fields.section > 0) {
          frequency += (sectionWeight * fields.section) / (1 - lengthNormalisation + (lengthNormalisation * chunk.section_length) / facts.meanSection);
        }
        if (fields.text > 0) {
          frequency += (1 * fields.text) / (1 - lengthNormalisation + (lengthNormalisation * chunk.text_length) / facts.meanText);
        }
        return (term.weight * term.idf * frequency * (k1 + 1)) / (frequency + k1);
      }

      /**
       * Every chunk holding a term, when every term's rows were read: the sums of {@link score},
       * added term by term in the same order, so the same figures, without a lookup per term and chunk.
       */
      function scoreFromPostings(groups: Term[][]): RankedChunk[] {
        const sums = new Map<number, RankedChunk & { group: number; sum: number }>();
        groups.forEach((terms, group) => {
          terms.forEach((term, index) => {
            const posting = postings.get(term.stem);
            if (!posting) return;
            for (const [id, fields] of posting) {
              const chunk = chunks.get(id)!;
              let entry = sums.get(id);
              if (!entry) {
                entry = { id, document_id: chunk.document_id, page: chunk.page, bm25: 0, matched: 0, order: [group, index, id], group, sum: 0 };
                sums.set(id, entry);
              }
              if (entry.group !== group) {
                entry.bm25 += entry.sum;
                entry.sum = 0;
                entry.group = group;
              }
              entry.sum += part(term, fields, chunk);
              if (group === 0) entry.matched += term.weight * term.idf;
            }
          });
        });
        return [...sums.values()].map(({ group: _group, sum, ...chunk }) => ({ ...chunk, bm25: chunk.bm25 + sum }));
      }

      function score(id: number, groups: Term[][]): RankedChunk {
        const chunk = chunks.get(id)!;
        let bm25 = 0;
        let matched = 0;
        let order: [number, number, number] | undefined;
        groups.forEach((terms, group) => {
          let sum = 0;
          terms.forEach((term, index) => {
            const fields = fieldsOf(id, term.stem);
            if (!fields) return;
            sum += part(term, fields, chunk);
            if (group === 0) matched += term.weight * term.idf;
            order ??= [group, index, id];
          });
          bm25 += sum;
        });
        return { id, document_id: chunk.document_id, page: chunk.page, bm25, matched, order: order ?? [groups.length, 0, id] };
      }

      return {
        ready: facts.chunkCount > 0,

        queryWeight(stems) {
          let weight = 0;
          for (const [stem, weighted] of stems) {
            const { idf } = term(stem, weighted);
            weight += weighted.weight * idf;
          }
          return weight;
        },

        scoreDown(stemGroups, needed) {
          const groups = stemGroups.map((stems) => [...stems].map(([stem, weighted]) => term(stem, weighted)));
          // Highest bound first: the rare terms, whose rows are few, decide which chunks can rank.
          const present = groups
            .flat()
            .filter((term) => term.documentFrequency > 0)
            .sort((left, right) => right.bound - left.bound);
          const allStems = present.map((term) => term.stem);
          const scored = new Map<number, RankedChunk>();
          const scoreAll = (ids: number[]) => {
            tokenise(
              ids.filter((id) => !scored.has(id)),
              allStems,
            );
            for (const id of ids) if (!scored.has(id)) scored.set(id, score(id, groups));
          };
          /** Σ of the parts of the terms read, per chunk holding one of them. */
          const partial = new Map<number, number>();
          let read = 0;
          let rowsRead = 0;
          const readNext = () => {
            const next = present[read++];
            rowsRead += next.documentFrequency;
            for (const [id, fields] of readPostings(next.stem)) partial.set(id, (partial.get(id) ?? 0) + part(next, fields, chunks.get(id)!));
          };
          const rest = () => present.slice(read).reduce((sum, term) => sum + term.bound, 0);
          if (present.length === 0) return [];
          // The rare terms first, while their rows are few: a first idea of the chunks that rank.
          do readNext();
          while (read < present.length && rowsRead + present[read].documentFrequency <= cheapRows);
          for (;;) {
            scoreAll(mostPromising(partial, scored));
            const threshold = needed([...scored.values()]);
            while (read < present.length && rest() > threshold - epsilon) readNext();
            // A chunk holding none of the terms read scores under rest(), so under the threshold;
            // the others still in the running are read again, unless reading the next term's rows
            // costs less and rules most of them out.
            const running = () => {
              const bound = rest();
              const ids: number[] = [];
              for (const [id, sum] of partial) if (sum + bound >= threshold - epsilon && !scored.has(id)) ids.push(id);
              return ids;
            };
            let survivors = running();
            while (read < present.length && present[read].documentFrequency < rowsPerChunkRead * survivors.length) {
              readNext();
              survivors = running();
            }
            if (read === present.length) return scoreFromPostings(groups);
            scoreAll(survivors);
            // Every chunk reaching the threshold is scored: the ranking is exact down to it, and
            // done if the position needed is above it (scoring more can move it further down).
            if (needed([...scored.values()]) >= threshold) return [...scored.values()];
          }
        },
      };
    },
  };
}
