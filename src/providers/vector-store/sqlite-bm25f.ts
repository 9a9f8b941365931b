/**
 * The BM25F figures of the SQLite store (see sqlite.ts for what is ranked and why), computed for
 * every chunk of the namespace that holds a query stem, from posting arrays kept in memory.
 *
 * Per namespace this process keeps the chunk count and mean field lengths (from `namespace_stats`,
 * kept by triggers), each chunk's field lengths and page, and, once a stem has been read, its
 * postings: the chunks of the namespace holding it, each with the stem's length-normalised,
 * field-weighted frequency there (typed arrays, 12 bytes a posting). A query then adds its stems'
 * parts to one figure per chunk, term after term (a loop over arrays, no SQL), and ranks the chunks
 * or pages it touched. Everything kept of a namespace is dropped when this store writes to it, and
 * all of it when PRAGMA data_version says another connection (another worker process's ingestion)
 * committed; a term's postings are otherwise read once, from the index's rows (`fts5vocab`, cost
 * in proportion to its occurrences, 100,000 rows for "set" in 50,000 chunks). What is kept is
 * bounded: past {@link maxKeptPostings} the namespaces least recently queried are dropped.
 *
 * This replaced MaxScore (computing only the chunks that could still reach the ranking, terms
 * read rarest first): an email's 20 to 60 stems kept its bound too loose to skip the common terms,
 * whose rows were read again at every query (BENCHMARKS.md section 7).
 */
import type BetterSqlite3 from 'better-sqlite3';

/** BM25 term-frequency saturation and length normalisation (the usual values). */
const k1 = 1.2;
const lengthNormalisation = 0.75;
/** A query word in a chunk's section heading counts this many times one in its text (BM25F). */
const sectionWeight = 2;
/**
 * Postings and chunks kept in memory per process, over all namespaces (12 bytes a posting): every
 * stem of a 50,000-chunk mailbox is about 3.4 million postings; the dev set's 90 questions and
 * their feedback read about 2 million of them (measured, BENCHMARKS.md section 7).
 */
const maxKeptPostings = 4_000_000;
const space = ' '.charCodeAt(0);
const sectionMark = 's'.charCodeAt(0);
const zero = '0'.charCodeAt(0);

/** A page's key: its document and page number. */
export const pageKey = (documentId: string, page: number) => `${page}#${documentId}`;

export function inverseDocumentFrequency(chunkCount: number, documentFrequency: number): number {
  return Math.log(1 + (chunkCount - documentFrequency + 0.5) / (documentFrequency + 0.5));
}

/** The chunks of the namespace holding a stem (dense indexes, ascending) and its BM25F frequency in each. */
interface Posting {
  chunks: Int32Array;
  frequencies: Float64Array;
}

/** What is kept of one namespace. Chunks are numbered densely in id order, so the number orders as the id. */
interface Namespace {
  chunkCount: number;
  meanText: number;
  meanSection: number;
  ids: number[];
  /** Chunk id → its number. */
  numbers: Map<number, number>;
  textLengths: Int32Array;
  sectionLengths: Int32Array;
  /** Chunk number → page number (an index of `pages`). */
  pageOf: Int32Array;
  pages: Array<{ documentId: string; page: number }>;
  postings: Map<string, Posting>;
  /** Chunks plus postings kept, for the bound. */
  size: number;
}

/** A chunk that represents its page in a ranking. */
export interface RankedPage {
  id: number;
  document_id: string;
  page: number;
  /** Σ over the groups added of Σ over their stems of the stem's BM25F part. */
  bm25: number;
  /** Σ q·idf of the first group's stems the chunk holds. */
  matched: number;
}

/** One query's figures over one namespace: groups of stems are added, then chunks or pages ranked. */
export interface Bm25fQuery {
  /** False when the namespace holds no chunk. */
  readonly ready: boolean;
  /** Σ q·idf over the stems (stem → q; a stem found nowhere keeps the largest idf). */
  queryWeight(stems: Map<string, number>): number;
  /** Adds a group of stems' parts to every chunk holding one: the query's first, then its feedback's. */
  add(stems: Map<string, number>): void;
  /** Ids of the `count` best chunks. */
  bestChunks(count: number): number[];
  /** The `count` best pages, each represented by its best chunk, best first. */
  bestPages(count: number): RankedPage[];
}

/**
 * The `count` items of highest score, best first; of equal scores, the one offered first. Most
 * items are turned down by one comparison with the last kept: little more than one pass.
 */
function bestOf(count: number, items: number[], score: (item: number) => number): number[] {
  const kept: number[] = [];
  const scores: number[] = [];
  for (const item of items) {
    const value = score(item);
    if (kept.length === count && value <= scores[count - 1]) continue;
    let index = kept.length === count ? count - 1 : kept.length;
    while (index > 0 && value > scores[index - 1]) {
      kept[index] = kept[index - 1];
      scores[index] = scores[index - 1];
      index--;
    }
    kept[index] = item;
    scores[index] = value;
  }
  return kept;
}

/** Builds the per-query scorer over `database` (the store's connection). */
export function createBm25f(database: BetterSqlite3.Database) {
  const dataVersion = database.prepare<[], number>('PRAGMA data_version').pluck();
  const selectStatistics = database.prepare<[string], { chunks: number; text_length: number; section_length: number }>(
    'SELECT chunks, text_length, section_length FROM namespace_stats WHERE namespace = ?',
  );
  const selectChunks = database
    .prepare<[string], [number, string, number, number, number]>(
      'SELECT id, document_id, page, length(text), coalesce(length(section), 0) FROM chunks WHERE namespace = ? ORDER BY id',
    )
    .raw();
  // A term's occurrences in every namespace (those of other namespaces are left out by the chunk
  // numbers) as one string, "id" or "id" + "s" (in the section) each: 3 to 10 times faster than a
  // row each, or rows grouped in SQL, for a common term (measured: 250,000 occurrences of "the").
  const termOccurrences = database
    .prepare<[string], string | null>("SELECT group_concat(doc || iif(col = 'section', 's', ''), ' ') FROM chunks_terms WHERE term = ?")
    .pluck();

  /** Least recently queried first. */
  const namespaces = new Map<string, Namespace>();
  let keptSize = 0;
  let seenVersion: number | undefined;

  function drop(namespace: string): void {
    keptSize -= namespaces.get(namespace)?.size ?? 0;
    namespaces.delete(namespace);
  }

  /** Keeps `size` more, dropping the namespaces least recently queried (other than `current`) while over the bound. */
  function keep(current: Namespace, size: number): void {
    current.size += size;
    keptSize += size;
    for (const [namespace, facts] of namespaces) {
      if (keptSize <= maxKeptPostings) return;
      if (facts !== current) drop(namespace);
    }
    // Alone over the bound: its postings go, not its chunks.
    if (keptSize > maxKeptPostings) {
      keptSize -= current.size - current.ids.length;
      current.size = current.ids.length;
      current.postings.clear();
    }
  }

  function load(namespace: string): Namespace {
    const row = selectStatistics.get(namespace);
    const chunkCount = row?.chunks ?? 0;
    const facts: Namespace = {
      chunkCount,
      // As avg() computed them before: integer sums over the count, 1 when empty or zero.
      meanText: (chunkCount > 0 ? (row?.text_length ?? 0) / chunkCount : 0) || 1,
      meanSection: (chunkCount > 0 ? (row?.section_length ?? 0) / chunkCount : 0) || 1,
      ids: [],
      numbers: new Map(),
      textLengths: new Int32Array(chunkCount),
      sectionLengths: new Int32Array(chunkCount),
      pageOf: new Int32Array(chunkCount),
      pages: [],
      postings: new Map(),
      size: 0,
    };
    if (chunkCount === 0) return facts;
    const pageNumbers = new Map<string, number>();
    for (const [id, documentId, page, textLength, sectionLength] of selectChunks.iterate(namespace)) {
      const number = facts.ids.length;
      facts.ids.push(id);
      facts.numbers.set(id, number);
      facts.textLengths[number] = textLength;
      facts.sectionLengths[number] = sectionLength;
      const key = pageKey(documentId, page);
      let pageNumber = pageNumbers.get(key);
      if (pageNumber === undefined) {
        pageNumber = facts.pages.length;
        pageNumbers.set(key, pageNumber);
        facts.pages.push({ documentId, page });
      }
      facts.pageOf[number] = pageNumber;
    }
    return facts;
  }

  function namespaceFacts(namespace: string): Namespace {
    const version = dataVersion.get();
    if (version !== seenVersion) {
      namespaces.clear();
      keptSize = 0;
      seenVersion = version;
    }
    let facts = namespaces.get(namespace);
    if (facts) namespaces.delete(namespace);
    else facts = load(namespace);
    namespaces.set(namespace, facts);
    if (facts.size === 0) keep(facts, facts.ids.length);
    return facts;
  }

  /** A stem's postings in the namespace, read from the index the first time. */
  function postingOf(facts: Namespace, stem: string): Posting {
    const kept = facts.postings.get(stem);
    if (kept) return kept;
    // The index's rows come one per occurrence, in chunk order: counted per chunk and field.
    const chunks: number[] = [];
    const text: number[] = [];
    const section: number[] = [];
    let previousId: number | undefined;
    let inNamespace = false;
    const occurrence = (id: number, inSection: boolean) => {
      if (id !== previousId) {
        previousId = id;
        const number = facts.numbers.get(id);
        inNamespace = number !== undefined;
        if (number === undefined) return;
        if (chunks.length > 0 && number <= chunks[chunks.length - 1]) throw new Error(`index rows of "${stem}" out of rowid order`);
        chunks.push(number);
        text.push(0);
        section.push(0);
      }
      if (!inNamespace) return;
      if (inSection) section[section.length - 1]++;
      else text[text.length - 1]++;
    };
    const occurrences = termOccurrences.get(stem) ?? '';
    let id = 0;
    let inSection = false;
    for (let index = 0; index < occurrences.length; index++) {
      const code = occurrences.charCodeAt(index);
      if (code === space) {
        occurrence(id, inSection);
        id = 0;
        inSection = false;
      } else if (code === sectionMark) inSection = true;
      else id = id * 10 + code - zero;
    }
    if (occurrences.length > 0) occurrence(id, inSection);
    const posting: Posting = { chunks: Int32Array.from(chunks), frequencies: new Float64Array(chunks.length) };
    chunks.forEach((number, index) => {
      let frequency = 0;
      if (section[index] > 0) {
        frequency += (sectionWeight * section[index]) / (1 - lengthNormalisation + (lengthNormalisation * facts.sectionLengths[number]) / facts.meanSection);
      }
      if (text[index] > 0) {
        frequency += (1 * text[index]) / (1 - lengthNormalisation + (lengthNormalisation * facts.textLengths[number]) / facts.meanText);
      }
      posting.frequencies[index] = frequency;
    });
    facts.postings.set(stem, posting);
    keep(facts, chunks.length);
    return posting;
  }

  return {
    /** Drops what is kept of a namespace this connection has just written to. */
    forget: drop,

    open(namespace: string): Bm25fQuery {
      const facts = namespaceFacts(namespace);
      const count = facts.chunkCount;
      const bm25 = new Float64Array(count);
      const matched = new Float64Array(count);
      const met = new Uint8Array(count);
      /**
       * The chunks holding a stem of the groups added, in the order first met: by the group and
       * position of their first stem, then by id (postings are in id order). Ties are broken in
       * this order, so in a pass over it a chunk or page displaces one met before only if it
       * scores strictly more.
       */
      const touched: number[] = [];
      let groupsAdded = 0;

      return {
        ready: count > 0,

        queryWeight(stems) {
          let weight = 0;
          for (const [stem, q] of stems) weight += q * inverseDocumentFrequency(count, postingOf(facts, stem).chunks.length);
          return weight;
        },

        add(stems) {
          const first = groupsAdded++ === 0;
          // Summed apart, then added to the total: the same figures as adding group by group.
          const sum = new Float64Array(count);
          for (const [stem, q] of stems) {
            const { chunks, frequencies } = postingOf(facts, stem);
            const weight = q * inverseDocumentFrequency(count, chunks.length);
            for (let index = 0; index < chunks.length; index++) {
              const chunk = chunks[index];
              const frequency = frequencies[index];
              sum[chunk] += (weight * frequency * (k1 + 1)) / (frequency + k1);
              if (first) matched[chunk] += weight;
              if (met[chunk] === 0) {
                met[chunk] = 1;
                touched.push(chunk);
              }
            }
          }
          for (const chunk of touched) bm25[chunk] += sum[chunk];
        },

        bestChunks(wanted) {
          return bestOf(wanted, touched, (chunk) => bm25[chunk]).map((chunk) => facts.ids[chunk]);
        },

        bestPages(wanted) {
          /** 1 + the page's best chunk, 0 while the page is untouched. */
          const bestChunk = new Int32Array(facts.pages.length);
          /** Pages in the order their first chunk was met. */
          const pages: number[] = [];
          for (const chunk of touched) {
            const page = facts.pageOf[chunk];
            if (bestChunk[page] === 0) {
              pages.push(page);
              bestChunk[page] = chunk + 1;
            } else if (bm25[chunk] > bm25[bestChunk[page] - 1]) bestChunk[page] = chunk + 1;
          }
          return bestOf(wanted, pages, (page) => bm25[bestChunk[page] - 1]).map((page) => {
            const chunk = bestChunk[page] - 1;
            const { documentId, page: number } = facts.pages[page];
            return { id: facts.ids[chunk], document_id: documentId, page: number, bm25: bm25[chunk], matched: matched[chunk] };
          });
        },
      };
    },
  };
}
