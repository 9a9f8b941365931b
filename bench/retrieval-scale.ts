/**
 * Benchmark 7, retrieval at scale: the SQLite store alone (no broker, no pipeline) answering the
 * dev set's 90 questions (eval/questions.jsonl) in a mailbox holding the dev manuals
 * (eval/manuals.json, fetched into data/eval-cache as `npm run eval` does) copied N times, each
 * copy a document of its own. A second mailbox in the same file holds one copy, so the namespace
 * filter is part of what is measured. Prints p50 / p90 / p99 of `retrieveForEmail` (k = 5, as the
 * eval measures recall) for every N: the first pass over the questions (cold: the store's
 * per-mailbox caches empty, as after an ingestion) and the later passes together, and the later
 * passes' CPU time per query (on a shared machine, wall-clock time also counts waiting for a core).
 *
 *   npx tsx bench/retrieval-scale.ts [--copies 1,15] [--passes 3] [--results results.json]
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Command } from 'commander';
import { loadConfig } from '../src/app/config.js';
import { questionSchema, readJsonl } from '../src/features/eval-dataset.js';
import { retrieveForEmail } from '../src/rag/retrieve.js';
import { createSqliteVectorStore } from '../src/providers/vector-store/sqlite.js';
import { copyOf, devManualChunks, repositoryRoot } from './lib/dev-manuals.js';
import { integerListOption, integerOption } from './lib/options.js';
import { printReport, progress } from './lib/report.js';
import { percentile, round } from './lib/stats.js';

const MAILBOX = 'support@scale.example';
const OTHER_MAILBOX = 'support@other.example';
const K = 5;

const options = new Command('retrieval-scale')
  .description('retrieval latency of the SQLite store with the dev manuals copied N times into one mailbox')
  .option('--copies <list>', 'copies of the dev manuals in the mailbox, one store per figure', integerListOption, [1, 15])
  .option('--passes <n>', 'passes over the 90 questions; the first is reported apart (cold caches)', integerOption, 3)
  .option('--results <file>', "also write every question's results (k = 5 and 12, both mailboxes) to this JSON file, to compare two versions of the store")
  .parse()
  .opts<{ copies: number[]; passes: number; results?: string }>();

const config = loadConfig({});

const documents = await devManualChunks(config);
const questions = await readJsonl(path.join(repositoryRoot, 'eval', 'questions.jsonl'), questionSchema);
const folder = await mkdtemp(path.join(tmpdir(), 'ragmail-bench-scale-'));

interface Figures {
  copies: number;
  chunks: number;
  ingest_seconds: number;
  cold_ms: { p50: number; p90: number; p99: number };
  warm_ms: { p50: number; p90: number; p99: number };
  /** CPU time of this process per cold query (first pass). */
  cold_cpu_ms: { p50: number; p90: number; p99: number };
  /** CPU time of this process per warm query: the machine's other load inflates it less than wall-clock time. */
  warm_cpu_ms: { p50: number; p90: number; p99: number };
  queries_warm: number;
}

const summary = (times: number[]) => ({
  p50: round(percentile(times, 0.5), 2),
  p90: round(percentile(times, 0.9), 2),
  p99: round(percentile(times, 0.99), 2),
});

const results: Figures[] = [];
/** Per number of copies, mailbox and k: each question's returned pages, chunks and scores, in order. */
const returned: Record<string, unknown> = {};
try {
  for (const copies of options.copies) {
    const file = path.join(folder, `copies-${copies}.db`);
    const store = createSqliteVectorStore({ path: file });
    try {
      const started = performance.now();
      let chunks = 0;
      for (let copy = 0; copy < copies; copy++) {
        for (const chunksOfDocument of copyOf(documents, copy)) {
          await store.upsert(MAILBOX, chunksOfDocument);
          chunks += chunksOfDocument.length;
        }
      }
      for (const chunksOfDocument of documents) await store.upsert(OTHER_MAILBOX, chunksOfDocument);
      const ingestSeconds = (performance.now() - started) / 1000;
      progress(`${copies} ×: ${chunks} chunks in the mailbox, stored in ${round(ingestSeconds, 1)} s`);
      const cold: number[] = [];
      const warm: number[] = [];
      const coldCpu: number[] = [];
      const warmCpu: number[] = [];
      for (let pass = 1; pass <= options.passes; pass++) {
        for (const question of questions) {
          const begun = performance.now();
          const cpu = process.cpuUsage();
          await retrieveForEmail(store, MAILBOX, question, K);
          const { user, system } = process.cpuUsage(cpu);
          (pass === 1 ? cold : warm).push(performance.now() - begun);
          (pass === 1 ? coldCpu : warmCpu).push((user + system) / 1000);
        }
      }
      results.push({
        copies,
        chunks,
        ingest_seconds: round(ingestSeconds, 1),
        cold_ms: summary(cold),
        warm_ms: summary(warm),
        cold_cpu_ms: summary(coldCpu),
        warm_cpu_ms: summary(warmCpu),
        queries_warm: warm.length,
      });
      progress(`${copies} ×: warm p50 ${summary(warm).p50} ms, p99 ${summary(warm).p99} ms`);
      if (options.results) {
        for (const mailbox of [MAILBOX, OTHER_MAILBOX]) {
          for (const k of [K, 12]) {
            const found = [];
            for (const question of questions) {
              const chunks = await retrieveForEmail(store, mailbox, question, k);
              found.push(chunks.map((chunk) => [chunk.document_id, chunk.page, chunk.chunk_index, chunk.score]));
            }
            returned[`${copies}× ${mailbox} k=${k}`] = found;
          }
        }
      }
    } finally {
      await store.close();
      await rm(file, { force: true });
      await rm(`${file}-wal`, { force: true });
      await rm(`${file}-shm`, { force: true });
    }
  }
} finally {
  await rm(folder, { recursive: true, force: true });
}
if (options.results) await writeFile(options.results, `${JSON.stringify(returned)}\n`);

printReport({ bench: 'retrieval-scale', questions: questions.length, k: K, passes: options.passes, results }, [
  {
    title: `Retrieval in one mailbox holding the dev manuals N times (${questions.length} questions, k = ${K})`,
    columns: ['copies', 'chunks', 'store s', 'cold p50', 'p90', 'p99', 'cold CPU p50', 'p90', 'p99', 'warm p50', 'p90', 'p99', 'warm CPU p50', 'p90', 'p99'],
    rows: results.map((figures) => [
      figures.copies,
      figures.chunks,
      figures.ingest_seconds,
      figures.cold_ms.p50,
      figures.cold_ms.p90,
      figures.cold_ms.p99,
      figures.cold_cpu_ms.p50,
      figures.cold_cpu_ms.p90,
      figures.cold_cpu_ms.p99,
      figures.warm_ms.p50,
      figures.warm_ms.p90,
      figures.warm_ms.p99,
      figures.warm_cpu_ms.p50,
      figures.warm_cpu_ms.p90,
      figures.warm_cpu_ms.p99,
    ]),
    notes: [
      'milliseconds of retrieveForEmail (one store query per email) in this process, the SQLite store alone;',
      `cold: the first pass over the questions after the mailbox was filled; warm: passes 2 to ${options.passes} together`,
      'CPU: the CPU time this process used during each query (all its threads), which a loaded machine inflates less',
      `the file also holds a second mailbox with one copy of the manuals`,
    ],
  },
]);
