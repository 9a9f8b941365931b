/**
 * Benchmark 5, ingestion and retrieval on a real manual (Debian's freedombox-doc-en, about 300
 * pages; or --pdf): pages and chunks per second through the ingester process, retrieval p50 / p99
 * over the manual's chunks, and the peak memory of every role process while the manual is ingested
 * and emails about it are answered. The ingester's own peak is also read right after the
 * ingestions, with the peak of the child process that read the PDF (from the `ingested` event).
 * Then retrieval in the responder at scale (section 10): a second mailbox holding the dev manuals
 * (eval/manuals.json) copied --scale-copies times (15: about 50,000 chunks, some 50 manuals'
 * worth), written into the workers' store by this process as another ingester would, and emails
 * about its chunks answered by every role, once with nothing else written and once while a third
 * mailbox gets a manual every --other-writes-ms.
 *
 *   npx tsx bench/ingestion.ts [--pdf <path>] [--runs 3] [--queries 200] [--emails 300 | 0] [--scale-copies 15]
 *     [--other-writes-ms 2000] [--compiled] [--env MAX_PDF_PAGES=3000]
 */
import { loadavg } from 'node:os';
import BetterSqlite3 from 'better-sqlite3';
import { Command } from 'commander';
import { createSqliteVectorStore } from '../src/providers/vector-store/sqlite.js';
import { retrieveForEmail } from '../src/rag/retrieve.js';
import { withBenchVhost } from './lib/bench-vhost.js';
import { measureReference } from './lib/broker-ceiling.js';
import { copyOf, devManualChunks } from './lib/dev-manuals.js';
import { benchEmailId, benchMessageId, composeEmail } from './lib/emails.js';
import { obtainManual } from './lib/manual.js';
import { environmentOption, integerOption, withCommonOptions, type CommonOptions } from './lib/options.js';
import { startPipeline, type BacklogResult, type IngestedDocument, type RunningPipeline } from './lib/pipeline.js';
import { printReport, progress } from './lib/report.js';
import { median, percentile, round } from './lib/stats.js';

const MAILBOX = 'support@freedombox.example';
const SCALE_MAILBOX = 'support@scale.example';
const OTHER_MAILBOX = 'support@other.example';

const options = withCommonOptions(
  new Command('ingestion')
    .description('ingestion pages/s and chunks/s, retrieval latency, and peak memory per role, on a real manual')
    .option('--pdf <path>', 'ingest this PDF instead of fetching freedombox-doc-en')
    .option('--runs <n>', 'ingestions of the manual (each replaces the previous one), and passes over the queries', integerOption, 3)
    .option('--queries <n>', 'retrieval queries, one from each of that many chunks spread over the manual', integerOption, 200)
    .option('--emails <n>', 'emails about the manual answered while memory is watched, and per backlog at scale (0: none)', wholeNumber, 300)
    .option('--scale-copies <n>', 'copies of the dev manuals in the mailbox at scale (15: about 50,000 chunks; 0: no scale case)', wholeNumber, 15)
    .option('--other-writes-ms <ms>', 'during the second backlog at scale, one dev manual is written into another mailbox this often', integerOption, 2000)
    .option('--compiled', 'workers run the compiled CLI (dist/, `node scripts/build.mjs`), as deployed, not the sources through tsx')
    .option('--env <NAME=VALUE>', 'worker environment override, repeatable (e.g. MAX_PDF_PAGES=3000 for a longer PDF)', environmentOption, {}),
)
  .parse()
  .opts<
    {
      pdf?: string;
      runs: number;
      queries: number;
      emails: number;
      scaleCopies: number;
      otherWritesMs: number;
      compiled?: boolean;
      env: Record<string, string>;
    } & CommonOptions
  >();

function wholeNumber(value: string): number {
  return value === '0' ? 0 : integerOption(value);
}

interface ChunkText {
  chunk_index: number;
  page: number;
  text: string;
}

/** A question a customer might ask about a chunk: a dozen of its words from the middle. */
function questionFrom(chunk: ChunkText): { subject: string; body: string } {
  const words = chunk.text.split(/\s+/).filter((word) => /[a-z]{3,}/i.test(word));
  const start = Math.max(0, Math.floor(words.length / 2) - 6);
  const phrase = words.slice(start, start + 12).join(' ');
  return {
    subject: `Question about ${words.slice(start, start + 5).join(' ')}`,
    body: `Hello,\n\nI have a problem with my FreedomBox: ${phrase}\nHow do I fix this?\n\nThanks,\nSam`,
  };
}

/** The chunks of a mailbox in the workers' store, read through a connection of this process. */
function chunksOf(pipeline: RunningPipeline, mailbox: string): ChunkText[] {
  const vectors = new BetterSqlite3(pipeline.config.VECTOR_DB_PATH, { readonly: true });
  try {
    return vectors.prepare('SELECT chunk_index, page, text FROM chunks WHERE namespace = ? ORDER BY id').all(mailbox) as ChunkText[];
  } finally {
    vectors.close();
  }
}

/** What a backlog of emails about a mailbox's chunks showed of retrieval in the responder. */
interface ResponderRetrieval {
  backlog: BacklogResult;
  /** The `retrieved` events' duration_ms: the responder's retrieveForEmail, wall time. */
  durations: number[];
  /** The machine's 1-minute load average before and after the backlog. */
  load: [number, number];
}

/** Emails about `count` of `chunks` (spread over them), answered through every role. */
async function answerAbout(pipeline: RunningPipeline, mailbox: string, chunks: ChunkText[], runId: string, count: number): Promise<ResponderRetrieval> {
  const emails = spread(chunks, count).map((chunk, index) => ({
    agentEmail: mailbox,
    emailId: benchEmailId(mailbox, runId, index),
    raw: composeEmail({ agentEmail: mailbox, messageId: benchMessageId(runId, index), ...questionFrom(chunk) }),
  }));
  const loadBefore = loadavg()[0];
  const backlog = await pipeline.runBacklog(emails);
  const durations = await pipeline.activity.stageDurations(
    emails.map((email) => email.emailId),
    'retrieved',
  );
  return { backlog, durations, load: [round(loadBefore, 1), round(loadavg()[0], 1)] };
}

/** `count` items spread evenly over `items` (repeating some when there are fewer). */
function spread<T>(items: T[], count: number): T[] {
  return Array.from({ length: count }, (_unused, index) => items[Math.floor((index * items.length) / count)]);
}

progress(`broker ceiling: ${options.ceilingRuns} runs of ${options.ceilingMessages} messages`);
const ceiling = await measureReference(options.ceilingRuns, options.ceilingMessages);
progress(options.pdf ? `using ${options.pdf}` : 'fetching freedombox-doc-en with apt-get download');
const manual = await obtainManual(options.pdf);
progress(`manual: ${manual.file} (${round(manual.bytes / 1_048_576, 1)} MiB, from ${manual.source})`);

const result = await withBenchVhost('ingestion', async (vhost) => {
  const pipeline = await startPipeline(vhost, {
    mode: 'per-role',
    logLevel: options.logLevel,
    pollIntervalMs: 100,
    compiled: options.compiled,
    env: options.env,
  });
  try {
    const ingester = pipeline.processes.find((worker) => worker.role === 'ingester')!;
    const ingesterIdle = ingester.memory();
    const ingesterCpuBefore = ingester.cpuSeconds();
    const ingestions: IngestedDocument[] = [];
    for (let run = 1; run <= options.runs; run++) {
      const [ingested] = await pipeline.ingest([{ agentEmail: MAILBOX, file: manual.file }]);
      progress(
        `ingestion ${run}: ${ingested.pages} pages, ${ingested.chunks} chunks in ${round(ingested.handlerMs)} ms, reader peak ${ingested.readerPeakMiB} MiB`,
      );
      ingestions.push(ingested);
    }
    const ingesterMemory = {
      idleMiB: ingesterIdle.currentMiB,
      peakMiB: ingester.memory().peakMiB,
      cpuSeconds: ingester.cpuSeconds() - ingesterCpuBefore,
      readerPeakMiB: ingestions.map((ingested) => ingested.readerPeakMiB ?? Number.NaN),
    };

    const chunks = chunksOf(pipeline, MAILBOX).sort((left, right) => left.chunk_index - right.chunk_index);
    const sample = spread(chunks, Math.min(options.queries, chunks.length));
    const store = createSqliteVectorStore({ path: pipeline.config.VECTOR_DB_PATH });
    const passes: Array<{ p50: number; p99: number; hitRate: number }> = [];
    try {
      for (let pass = 1; pass <= options.runs; pass++) {
        const times: number[] = [];
        let hits = 0;
        for (const chunk of sample) {
          const started = performance.now();
          const found = await retrieveForEmail(store, MAILBOX, questionFrom(chunk), pipeline.config.RETRIEVAL_K);
          times.push(performance.now() - started);
          if (found.some((hit) => hit.chunk_index === chunk.chunk_index)) hits += 1;
        }
        passes.push({ p50: percentile(times, 0.5), p99: percentile(times, 0.99), hitRate: hits / sample.length });
        progress(`retrieval pass ${pass}: p50 ${round(percentiles(passes).p50, 2)} ms`);
      }
    } finally {
      await store.close();
    }

    let manualAnswers: ResponderRetrieval | undefined;
    if (options.emails > 0) {
      progress(`answering ${options.emails} emails about the manual`);
      manualAnswers = await answerAbout(pipeline, MAILBOX, chunks, 'manual', options.emails);
    }
    const memory = Object.fromEntries(pipeline.processes.map((worker) => [worker.role, worker.memory()]));
    const scale = options.scaleCopies > 0 && options.emails > 0 ? await retrievalAtScale(pipeline) : undefined;
    return {
      ingestions,
      ingesterMemory,
      chunkCount: chunks.length,
      queries: sample.length,
      k: pipeline.config.RETRIEVAL_K,
      passes,
      backlog: manualAnswers?.backlog ?? { emailsPerSecond: Number.NaN, states: {} },
      retrievalInResponder: manualAnswers?.durations ?? [],
      manualAnswers,
      memory,
      scale,
    };
  } finally {
    await pipeline.stop();
  }
}).finally(() => manual.cleanup());

/**
 * The mailbox at scale filled by this process (a write from another connection, as an ingester's),
 * then two backlogs about its chunks: the first right after the fill (the responder has read
 * nothing of it yet), the second while another mailbox is written to every --other-writes-ms.
 */
async function retrievalAtScale(pipeline: RunningPipeline) {
  const documents = await devManualChunks(pipeline.config);
  const store = createSqliteVectorStore({ path: pipeline.config.VECTOR_DB_PATH });
  try {
    const started = performance.now();
    for (let copy = 0; copy < options.scaleCopies; copy++) {
      for (const chunksOfDocument of copyOf(documents, copy)) await store.upsert(SCALE_MAILBOX, chunksOfDocument);
    }
    const chunks = chunksOf(pipeline, SCALE_MAILBOX);
    const fillSeconds = round((performance.now() - started) / 1000, 1);
    progress(`${SCALE_MAILBOX}: ${chunks.length} chunks stored in ${fillSeconds} s; answering ${options.emails} emails about them`);
    const quiet = await answerAbout(pipeline, SCALE_MAILBOX, chunks, 'scale', options.emails);
    progress(`again, while ${OTHER_MAILBOX} gets a manual every ${options.otherWritesMs} ms`);
    let otherWrites = 0;
    let writing = Promise.resolve();
    const timer = setInterval(() => {
      const document = documents[otherWrites % documents.length];
      otherWrites += 1;
      writing = writing.then(() => store.upsert(OTHER_MAILBOX, document));
    }, options.otherWritesMs);
    let written: ResponderRetrieval;
    try {
      written = await answerAbout(pipeline, SCALE_MAILBOX, chunks, 'scale-written', options.emails);
    } finally {
      clearInterval(timer);
      await writing;
    }
    return { chunks: chunks.length, fillSeconds, quiet, written, otherWrites };
  } finally {
    await store.close();
  }
}

function percentiles(passes: Array<{ p50: number; p99: number }>) {
  return { p50: median(passes.map((pass) => pass.p50)), p99: median(passes.map((pass) => pass.p99)) };
}

const perRun = result.ingestions.map((ingested) => ({
  pagesPerSecond: ingested.pages / (ingested.handlerMs / 1000),
  chunksPerSecond: ingested.chunks / (ingested.handlerMs / 1000),
}));
const retrieval = percentiles(result.passes);
const figures = {
  pages: result.ingestions[0].pages,
  chunks: result.ingestions[0].chunks,
  pages_per_second_median: round(median(perRun.map((run) => run.pagesPerSecond)), 1),
  chunks_per_second_median: round(median(perRun.map((run) => run.chunksPerSecond)), 1),
  ingest_seconds_median: round(median(result.ingestions.map((ingested) => ingested.handlerMs)) / 1000, 2),
  runs_pages_per_second: perRun.map((run) => round(run.pagesPerSecond, 1)),
  retrieval_ms: {
    p50: round(retrieval.p50, 2),
    p99: round(retrieval.p99, 2),
    queries: result.queries,
    k: result.k,
    recall_at_k: round(median(result.passes.map((pass) => pass.hitRate)), 3),
  },
  retrieval_in_responder_ms: { p50: percentile(result.retrievalInResponder, 0.5), p99: percentile(result.retrievalInResponder, 0.99) },
  emails_per_second: round(result.backlog.emailsPerSecond, 1),
  email_states: result.backlog.states,
  peak_memory_mib: Object.fromEntries(Object.entries(result.memory).map(([role, memory]) => [role, round(memory.peakMiB)])),
  ingester_memory_mib: {
    idle: round(result.ingesterMemory.idleMiB),
    peak_after_ingestions: round(result.ingesterMemory.peakMiB),
    reader_peak_per_run: result.ingesterMemory.readerPeakMiB,
    tree_peak: round(result.ingesterMemory.peakMiB + Math.max(...result.ingesterMemory.readerPeakMiB)),
  },
  ingester_cpu_seconds: round(result.ingesterMemory.cpuSeconds, 2),
  workers: options.compiled ? 'compiled (dist/)' : 'sources through tsx',
};

/** Retrieval in the responder during one backlog, with the load it ran under. */
function responderFigures(chunks: number, what: string, answers: ResponderRetrieval) {
  return {
    chunks,
    what,
    p50_ms: percentile(answers.durations, 0.5),
    p90_ms: percentile(answers.durations, 0.9),
    p99_ms: percentile(answers.durations, 0.99),
    max_ms: Math.max(...answers.durations),
    emails_per_second: round(answers.backlog.emailsPerSecond, 1),
    responder_cpu_ms_per_email: round(answers.backlog.cpuMsPerEmail.responder ?? Number.NaN, 1),
    machine_cores: round(answers.backlog.machineCores, 2),
    load_average: answers.load,
  };
}
const inResponder = [
  ...(result.manualAnswers ? [responderFigures(result.chunkCount, 'the manual', result.manualAnswers)] : []),
  ...(result.scale
    ? [
        responderFigures(result.scale.chunks, 'right after the fill', result.scale.quiet),
        responderFigures(result.scale.chunks, `another mailbox written ${result.scale.otherWrites} times`, result.scale.written),
      ]
    : []),
];

printReport(
  {
    bench: 'ingestion',
    manual: manual.source,
    manual_bytes: manual.bytes,
    runs: options.runs,
    ceiling_hops_per_second_median: round(ceiling.medianHopsPerSecond),
    ...figures,
    retrieval_in_responder_at_scale: result.scale ? { fill_seconds: result.scale.fillSeconds, backlogs: inResponder } : undefined,
  },
  [
    {
      title: `Ingestion of ${manual.source} (${figures.pages} pages → ${figures.chunks} chunks), median of ${options.runs} runs`,
      columns: ['figure', 'median', 'runs'],
      rows: [
        ['pages/s', figures.pages_per_second_median, figures.runs_pages_per_second.join(', ')],
        ['chunks/s', figures.chunks_per_second_median, perRun.map((run) => round(run.chunksPerSecond, 1)).join(', ')],
        ['seconds per ingestion', figures.ingest_seconds_median, result.ingestions.map((ingested) => round(ingested.handlerMs / 1000, 2)).join(', ')],
      ],
      notes: [
        "time = the ingester's `ingested` event duration: read the file, PDF text of every page, chunking, replace the chunks in the SQLite store",
        `upload → ingested, queueing included: ${result.ingestions.map((ingested) => round(ingested.endToEndMs / 1000, 2)).join(', ')} s`,
      ],
    },
    {
      title: `Ingester memory over the ${options.runs} ingestions (workers: ${figures.workers})`,
      columns: ['process', 'MiB'],
      rows: [
        ['ingester, idle (VmRSS before the first ingestion)', figures.ingester_memory_mib.idle],
        ['ingester, peak (VmHWM after the ingestions)', figures.ingester_memory_mib.peak_after_ingestions],
        ['PDF reader child, peak of each ingestion (its VmHWM)', figures.ingester_memory_mib.reader_peak_per_run.join(', ')],
        ['ingester tree (ingester peak + largest reader peak)', figures.ingester_memory_mib.tree_peak],
      ],
      notes: [`ingester CPU over the ingestions: ${figures.ingester_cpu_seconds} s (the reader children's CPU is not in it)`],
    },
    {
      title: `Retrieval over the manual's ${result.chunkCount} chunks (${figures.retrieval_ms.queries} queries × ${options.runs} passes)`,
      columns: ['where', 'p50 (ms)', 'p99 (ms)'],
      rows: [
        ['retrieveForEmail in this process', figures.retrieval_ms.p50, figures.retrieval_ms.p99],
        [`responder, under ${figures.emails_per_second} emails/s`, figures.retrieval_in_responder_ms.p50, figures.retrieval_in_responder_ms.p99],
      ],
      notes: [
        `each query: a dozen words from the middle of one chunk, as an email subject and body (two store queries, as the responder does);`,
        `the source chunk was among the top ${result.k} in ${round(figures.retrieval_ms.recall_at_k * 100, 1)} % of queries`,
        "responder: the `retrieved` events' duration_ms while the emails below were answered",
      ],
    },
    {
      title: `Peak memory per role process (VmHWM) after ${options.runs} ingestions and ${options.emails} emails (${figures.emails_per_second} emails/s)`,
      columns: ['process', 'peak RSS (MiB)'],
      rows: Object.entries(figures.peak_memory_mib).map(([role, mib]) => [role, mib]),
      notes: [`email final states: ${JSON.stringify(figures.email_states)}; broker ceiling in this run ${round(ceiling.medianHopsPerSecond)} hops/s`],
    },
    {
      title: `Retrieval in the responder under load: ${options.emails} emails per backlog, all delivered at once`,
      columns: [
        'chunks',
        'backlog',
        'p50 (ms)',
        'p90 (ms)',
        'p99 (ms)',
        'max (ms)',
        'emails/s',
        'responder CPU ms/email',
        'machine cores busy',
        'load avg before → after',
      ],
      rows: inResponder.map((row) => [
        row.chunks,
        row.what,
        row.p50_ms,
        row.p90_ms,
        row.p99_ms,
        row.max_ms,
        row.emails_per_second,
        row.responder_cpu_ms_per_email,
        row.machine_cores,
        row.load_average.join(' → '),
      ]),
      notes: [
        "the `retrieved` events' duration_ms (the responder's retrieveForEmail, wall time, whole milliseconds)",
        result.scale
          ? `at scale: ${SCALE_MAILBOX} holds the dev manuals ${options.scaleCopies} times, stored by this process in ${result.scale.fillSeconds} s just before the first backlog`
          : 'no case at scale (--scale-copies 0)',
        'responder CPU: all the responder process did per email (retrieval, reply, checks), not retrieval alone',
      ],
    },
  ],
);
