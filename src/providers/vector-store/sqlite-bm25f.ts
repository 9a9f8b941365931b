/**
 * The BM25F figures of the SQLite store (see sqlite.ts for what is ranked and why), computed for
 * every chunk of the namespace that holds a query stem, from posting arrays kept in memory.
 *
 * Per namespace this process keeps the chunk count and mean field lengths (from `namespace_stats`,
 * kept by triggers), each chunk's field lengths and page, and, once a stem has been read, its
 * postings: the chunks of the namespace holding it, each with the stem's length-normalised,
 * field-weighted frequency there (typed arrays, 12 bytes a posting). A query then adds its stems'
 * parts to one figure per chunk, term after term (a loop over arrays, no SQL), and picks the best
 * chunks or pages in one pass over those figures. Ties are broken as the full computation always
 * broke them, by when a chunk was first met (the group and position of its first stem, then its
 * id), worked out only when scores tie. Everything kept of a namespace is dropped when this store
 * writes to it, and when another connection (another worker process's ingestion) did: after
 * PRAGMA data_version says one committed, the namespace's generation (raised by triggers at each
 * write to it) is read once and compared, so a write to one mailbox leaves the others' arrays
 * kept. A stem's postings are otherwise read once, from the index's rows (`fts5vocab`, in
 * proportion to its occurrences: about 0.1 s for the 255,000 of "the" in a file of 54,000 chunks,
 * measured on a loaded machine; storing each document's postings at ingestion instead cut a cold
 * query's CPU p90 from 18 to 12 ms at 50,000 chunks for 4 times the CPU of an ingestion and twice
 * the file, and was not kept: BENCHMARKS.md section 10). What is kept is bounded: past
 * {@link maxKeptPostings} the namespaces least recently queried are dropped.
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
 * stem of a 50,000-chunk mailbox is about 3.4 million postings; after the dev set's 90 questions
 * and their feedback the process held 16 to 19 MB of arrays (measured, BENCHMARKS.md section 7).
 */
const maxKeptPostings = 4_000_000;
/** A chunk's first stem's position in its group is below this (the digits of a met key). */
const groupStride = 1 << 16;
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

/** Arrays a query or a posting read works in, per chunk or page of the namespace. */
interface Workspace {
  bm25: Float64Array;
  sum: Float64Array;
  metKeys: Int32Array;
  bestChunk: Int32Array;
  pageScores: Float64Array;
}

/** What is kept of one namespace. Chunks are numbered densely in id order, so the number orders as the id. */
interface Namespace {
  /** `namespace_stats.generation` when loaded (triggers raise it at every write to the namespace); -1 when it had no row. */
  generation: number;
  /** PRAGMA data_version when the generation was last found unchanged. */
  checkedVersion: number;
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
  /** The chunks of page p, ascending: pageChunks[pageStarts[p]] to pageChunks[pageStarts[p + 1] - 1]. */
  pageStarts: Int32Array;
  pageChunks: Int32Array;
  postings: Map<string, Posting>;
  /**
   * The arrays a query over the namespace works in, made once rather than at each query (2 MB
   * at 50,000 chunks; collecting them took the CPU time's p99 from 7 to 13 ms, measured): a
   * query is done with them before the next one opens, the store's queries being synchronous.
   */
  workspace?: Workspace;
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
 * The `count` items (indexes of `scores`) of highest positive score, best first; of equal scores,
 * by `tieBefore`. Most items are turned down by one comparison with the last kept.
 */
function bestOf(count: number, scores: Float64Array, tieBefore: (left: number, right: number) => boolean): number[] {
  const kept: number[] = [];
  const before = (value: number, item: number, index: number) => value > scores[kept[index]] || (value === scores[kept[index]] && tieBefore(item, kept[index]));
  let floor = 0;
  for (let item = 0; item < scores.length; item++) {
    const value = scores[item];
    if (value < floor || value === 0 || (kept.length === count && !before(value, item, count - 1))) continue;
    let index = kept.length === count ? count - 1 : kept.length;
    while (index > 0 && before(value, item, index - 1)) {
      kept[index] = kept[index - 1];
      index--;
    }
    kept[index] = item;
    if (kept.length === count) floor = scores[kept[count - 1]];
  }
  return kept;
}

/** Whether the ascending `chunks` hold `chunk` (binary search). */
function holds(chunks: Int32Array, chunk: number): boolean {
  let low = 0;
  let high = chunks.length - 1;
  while (low <= high) {
    const middle = (low + high) >> 1;
    if (chunks[middle] === chunk) return true;
    if (chunks[middle] < chunk) low = middle + 1;
    else high = middle - 1;
  }
  return false;
}

/** Builds the per-query scorer over `database` (the store's connection). */
export function createBm25f(database: BetterSqlite3.Database) {
  const selectDataVersion = database.prepare<[], number>('PRAGMA data_version').pluck();
  const dataVersion = () => selectDataVersion.get() ?? 0;
  const selectStatistics = database.prepare<[string], { chunks: number; text_length: number; section_length: number; generation: number }>(
    'SELECT chunks, text_length, section_length, generation FROM namespace_stats WHERE namespace = ?',
  );
  const selectChunks = database
    .prepare<[string], [number, string, number, number, number]>(
      'SELECT id, document_id, page, length(text), coalesce(length(section), 0) FROM chunks WHERE namespace = ? ORDER BY id',
    )
    .raw();
  const selectGeneration = database.prepare<[string], number>('SELECT generation FROM namespace_stats WHERE namespace = ?').pluck();
  // A term's occurrences in every namespace (those of other namespaces are left out by the chunk
  // numbers) as one string, "id" or "id" + "s" (in the section) each: 3 to 10 times faster than a
  // row each, or rows grouped in SQL, for a common term (measured: 250,000 occurrences of "the").
  const termOccurrences = database
    .prepare<[string], string | null>("SELECT group_concat(doc || iif(col = 'section', 's', ''), ' ') FROM chunks_terms WHERE term = ?")
    .pluck();

  /** Least recently queried first. */
  const namespaces = new Map<string, Namespace>();
  let keptSize = 0;

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

  /** `version`: PRAGMA data_version read before this snapshot began, so a commit after it is never taken as seen. */
  function load(namespace: string, version: number): Namespace {
    const row = selectStatistics.get(namespace);
    const chunkCount = row?.chunks ?? 0;
    const facts: Namespace = {
      generation: row?.generation ?? -1,
      checkedVersion: version,
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
      pageStarts: new Int32Array(1),
      pageChunks: new Int32Array(chunkCount),
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
    facts.pageStarts = new Int32Array(facts.pages.length + 1);
    for (const page of facts.pageOf) facts.pageStarts[page + 1]++;
    for (let page = 0; page < facts.pages.length; page++) facts.pageStarts[page + 1] += facts.pageStarts[page];
    const filled = facts.pageStarts.slice(0, -1);
    facts.pageOf.forEach((page, number) => (facts.pageChunks[filled[page]++] = number));
    return facts;
  }

  function namespaceFacts(namespace: string): Namespace {
    let facts = namespaces.get(namespace);
    const version = dataVersion();
    if (facts) {
      // Another connection committed since the namespace was last checked: kept unless that changed it.
      if (version !== facts.checkedVersion) {
        if ((selectGeneration.get(namespace) ?? -1) === facts.generation) facts.checkedVersion = version;
        else {
          drop(namespace);
          facts = undefined;
        }
      }
    }
    if (facts) namespaces.delete(namespace);
    // One snapshot: the statistics and generation, then the chunks they count.
    else facts = database.transaction(load)(namespace, version);
    namespaces.set(namespace, facts);
    if (facts.size === 0) keep(facts, facts.ids.length);
    return facts;
  }

  function workspaceOf(facts: Namespace): Workspace {
    const count = facts.chunkCount;
    const pageCount = facts.pages.length;
    facts.workspace ??= {
      bm25: new Float64Array(count),
      sum: new Float64Array(count),
      metKeys: new Int32Array(count),
      bestChunk: new Int32Array(pageCount),
      pageScores: new Float64Array(pageCount),
    };
    return facts.workspace;
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
      const workspace = workspaceOf(facts);
      const { sum, metKeys, bestChunk, pageScores } = workspace;
      /** Per chunk; 0 for the chunks holding none of the stems (a part is always positive). */
      const bm25 = workspace.bm25.fill(0);
      /** The groups added: each stem's postings and q·idf, in order. */
      const groups: Array<Array<{ chunks: Int32Array; weight: number }>> = [];
      /**
       * Per chunk holding a stem, when it was first met (others: left from earlier queries, never
       * read); worked out when chunks tie, again after a group is added.
       */
      let metKeysGroups = 0;

      /**
       * When the chunk was first met, as the full computation met chunks: by the group and position
       * of the first stem it holds (then by id, see metBefore). The postings are read last to
       * first, so the first stem holding a chunk writes its key last.
       */
      function metKey(chunk: number): number {
        if (metKeysGroups !== groups.length) {
          metKeysGroups = groups.length;
          for (let group = groups.length - 1; group >= 0; group--) {
            for (let position = groups[group].length - 1; position >= 0; position--) {
              const key = group * groupStride + position;
              for (const held of groups[group][position].chunks) metKeys[held] = key;
            }
          }
        }
        return metKeys[chunk];
      }
      const metBefore = (left: number, right: number) => {
        const leftKey = metKey(left);
        const rightKey = metKey(right);
        return leftKey !== rightKey ? leftKey < rightKey : left < right;
      };
      /** Σ q·idf of the first group's stems the chunk holds. */
      const matched = (chunk: number) => {
        let weight = 0;
        for (const term of groups[0]) if (holds(term.chunks, chunk)) weight += term.weight;
        return weight;
      };

      return {
        ready: count > 0,

        queryWeight(stems) {
          let weight = 0;
          for (const [stem, q] of stems) weight += q * inverseDocumentFrequency(count, postingOf(facts, stem).chunks.length);
          return weight;
        },

        add(stems) {
          // A group is summed apart, then added to the total: the same figures as the full
          // computation's, which added group by group.
          const summed = groups.length === 0 ? bm25 : sum.fill(0);
          const terms: Array<{ chunks: Int32Array; weight: number }> = [];
          for (const [stem, q] of stems) {
            const { chunks, frequencies } = postingOf(facts, stem);
            const weight = q * inverseDocumentFrequency(count, chunks.length);
            terms.push({ chunks, weight });
            for (let index = 0; index < chunks.length; index++) {
              const frequency = frequencies[index];
              summed[chunks[index]] += (weight * frequency * (k1 + 1)) / (frequency + k1);
            }
          }
          groups.push(terms);
          if (summed !== bm25) for (let chunk = 0; chunk < count; chunk++) bm25[chunk] += summed[chunk];
        },

        bestChunks(wanted) {
          return bestOf(wanted, bm25, metBefore).map((chunk) => facts.ids[chunk]);
        },

        bestPages(wanted) {
          // A page's best chunk is read only once its score is positive.
          pageScores.fill(0);
          for (let chunk = 0; chunk < count; chunk++) {
            const score = bm25[chunk];
            if (score === 0) continue;
            const page = facts.pageOf[chunk];
            if (score > pageScores[page] || (score === pageScores[page] && metBefore(chunk, bestChunk[page]))) {
              bestChunk[page] = chunk;
              pageScores[page] = score;
            }
          }
          /** A page ties as the first of its chunks met. */
          const firstMet = new Map<number, number>();
          const firstOf = (page: number) => {
            let first = firstMet.get(page);
            if (first !== undefined) return first;
            first = -1;
            for (let index = facts.pageStarts[page]; index < facts.pageStarts[page + 1]; index++) {
              const chunk = facts.pageChunks[index];
              if (bm25[chunk] !== 0 && (first === -1 || metBefore(chunk, first))) first = chunk;
            }
            firstMet.set(page, first);
            return first;
          };
          return bestOf(wanted, pageScores, (left, right) => metBefore(firstOf(left), firstOf(right))).map((page) => {
            const chunk = bestChunk[page];
            const { documentId, page: number } = facts.pages[page];
            return { id: facts.ids[chunk], document_id: documentId, page: number, bm25: bm25[chunk], matched: matched(chunk) };
          });
        },
      };
    },
  };
}
