/**
 * Benchmark 3, LLM-bound scaling: one classifier process whose language model answers after a
 * fixed latency (the real `@google/genai` SDK against a loopback Gemini fake), at several
 * concurrencies. Ideal throughput is concurrency ÷ latency; efficiency = measured ÷ ideal
 * (target ≥ 0.9 at 32).
 *
 *   npx tsx bench/llm-scaling.ts [--latency 500] [--concurrency 1,8,32,128] [--waves 6] [--runs 3]
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import amqp from 'amqplib';
import { Command } from 'commander';
import { loadConfig } from '../src/app/config.js';
import { createLogger } from '../src/lib/log.js';
import { Broker } from '../src/messaging/broker.js';
import type { ToClassifyMessage } from '../src/pipeline/messages.js';
import { QUEUES } from '../src/messaging/topology.js';
import { parseEmail } from '../src/providers/mailbox/mime.js';
import { MANAGEMENT_URL, withBenchVhost, type BenchVhost } from './lib/bench-vhost.js';
import { measureReference } from './lib/broker-ceiling.js';
import { benchMessageId, sampleTemplates, withMessageId } from './lib/emails.js';
import { startFixedLatencyModel, type FixedLatencyModel } from './lib/fixed-latency-gemini.js';
import { integerListOption, integerOption, withCommonOptions, type CommonOptions } from './lib/options.js';
import { printReport, progress } from './lib/report.js';
import { median, round } from './lib/stats.js';
import { spawnWorker, type WorkerProcess } from './lib/worker-processes.js';
import { toClassify } from '../src/pipeline/stages.js';

/** The target: at least 90 % of concurrency ÷ latency at concurrency 32. */
const TARGET_EFFICIENCY = 0.9;
const TARGET_CONCURRENCY = 32;

const options = withCommonOptions(
  new Command('llm-scaling')
    .description('emails per second of one classifier process against a fixed-latency model, by concurrency')
    .option('--latency <ms>', 'latency of every model call', integerOption, 500)
    .option('--concurrency <list>', 'CONCURRENCY_CLASSIFIER values', integerListOption, [1, 8, 32, 128])
    .option('--waves <n>', 'emails per run = concurrency × waves (at least 8 emails)', integerOption, 6)
    .option('--runs <n>', 'runs per concurrency', integerOption, 3)
    .option('--prefetch <n>', 'PREFETCH_CLASSIFIER; 0 = equal to the concurrency (the default)', (value) => Number(value), 0),
)
  .parse()
  .opts<{ latency: number; concurrency: number[]; waves: number; runs: number; prefetch: number } & CommonOptions>();

interface RunResult {
  emails: number;
  seconds: number;
  emailsPerSecond: number;
  efficiency: number;
  workerCores: number;
  benchCores: number;
}

/** Fills `emails.to_classify` with `count` emails (fresh ids) before the worker starts. */
async function preload(broker: Broker, runId: string, count: number): Promise<void> {
  const templates = await sampleTemplates();
  await Promise.all(
    Array.from({ length: count }, async (_unused, index) => {
      const template = templates[index % templates.length];
      const { email } = await parseEmail(withMessageId(template.raw, benchMessageId(runId, index)), {
        agentEmail: template.agentEmail,
        mailboxRef: `${runId}-${index}`,
      });
      const message: ToClassifyMessage = { message_id: randomUUID(), timestamp: new Date().toISOString(), original_message_id: null, email };
      await broker.publish(toClassify, message, { priority: email.priority });
    }),
  );
}

/** Counts the classified emails arriving in `emails.to_respond`, per run (by Message-ID prefix: the email id is a digest). */
interface Collector {
  /** Resolves with `performance.now()` once `count` distinct emails of `prefix` arrived. */
  expect(prefix: string, count: number): Promise<number>;
  close(): Promise<void>;
}

async function startCollector(url: string): Promise<Collector> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  await channel.prefetch(1_000);
  let current: { prefix: string; count: number; seen: Set<string>; finish: (at: number) => void } | undefined;
  await channel.consume(QUEUES.toRespond, (message) => {
    if (!message) return;
    channel.ack(message);
    const { email_id: emailId, message_id_header: messageId } = (JSON.parse(message.content.toString('utf8')) as ToClassifyMessage).email;
    // A set, so a redelivered message is not counted twice.
    if (!current || !(messageId ?? '').startsWith(`<${current.prefix}`)) return;
    current.seen.add(emailId);
    if (current.seen.size === current.count) current.finish(performance.now());
  });
  return {
    expect: (prefix, count) =>
      new Promise<number>((resolve) => {
        current = { prefix, count, seen: new Set(), finish: resolve };
      }),
    close: async () => {
      await connection.close().catch(() => undefined);
    },
  };
}

/** One measured batch on a running (warm) worker: `emails` preloaded at once, timed from the first model request. */
async function oneRun(
  collector: Collector,
  broker: Broker,
  model: FixedLatencyModel,
  worker: WorkerProcess,
  concurrency: number,
  emails: number,
  runId: string,
): Promise<RunResult> {
  const done = collector.expect(`bench-${runId}-`, emails);
  model.reset();
  const benchCpuBefore = process.cpuUsage();
  const workerCpuBefore = worker.cpuSeconds();
  await preload(broker, runId, emails);
  const finishedAt = await done;
  const started = model.firstRequestAt();
  if (started === undefined) throw new Error('the model was never called');
  const seconds = (finishedAt - started) / 1000;
  const benchCpu = process.cpuUsage(benchCpuBefore);
  const emailsPerSecond = emails / seconds;
  return {
    emails,
    seconds,
    emailsPerSecond,
    efficiency: emailsPerSecond / (concurrency / (options.latency / 1000)),
    workerCores: (worker.cpuSeconds() - workerCpuBefore) / seconds,
    benchCores: (benchCpu.user + benchCpu.system) / 1e6 / seconds,
  };
}

/** A classifier process with `concurrency`, started once per concurrency and warmed up before it is measured. */
async function measureConcurrency(
  vhost: BenchVhost,
  collector: Collector,
  broker: Broker,
  model: FixedLatencyModel,
  concurrency: number,
): Promise<RunResult[]> {
  const worker = await spawnWorker(
    'classifier',
    {
      AMQP_URL: vhost.amqpUrl,
      RABBITMQ_MANAGEMENT_URL: MANAGEMENT_URL,
      DATA_DIR: path.join(vhost.dataDir, `c${concurrency}`),
      LOG_LEVEL: options.logLevel,
      LLM_PROVIDERS: 'gemini',
      GEMINI_API_KEY: 'bench-key',
      GEMINI_BASE_URL: model.url,
      CONCURRENCY_CLASSIFIER: String(concurrency),
      PREFETCH_CLASSIFIER: String(options.prefetch),
    },
    vhost.dataDir,
  );
  try {
    await worker.ready();
    const emails = Math.max(8, concurrency * options.waves);
    // Warm-up: the first calls of a fresh process load and compile the SDK's code paths.
    await oneRun(collector, broker, model, worker, concurrency, Math.max(4, concurrency * 2), `c${concurrency}-warmup`);
    const runs: RunResult[] = [];
    for (let run = 1; run <= options.runs; run++) {
      const result = await oneRun(collector, broker, model, worker, concurrency, emails, `c${concurrency}-run${run}`);
      progress(`concurrency ${concurrency} run ${run}: ${round(result.emailsPerSecond, 2)} emails/s, efficiency ${round(result.efficiency, 3)}`);
      runs.push(result);
    }
    return runs;
  } finally {
    await worker.stop();
  }
}

progress(`broker ceiling: ${options.ceilingRuns} runs of ${options.ceilingMessages} messages`);
const ceiling = await measureReference(options.ceilingRuns, options.ceilingMessages);
const results = await withBenchVhost('llm-scaling', async (vhost) => {
  const model = await startFixedLatencyModel(options.latency);
  let collector: Collector | undefined;
  const broker = new Broker(loadConfig({ AMQP_URL: vhost.amqpUrl, DATA_DIR: vhost.dataDir }), createLogger({ level: 'error', format: 'json', role: 'bench' }));
  try {
    await broker.start();
    collector = await startCollector(vhost.amqpUrl);
    const byConcurrency = new Map<number, RunResult[]>();
    for (const concurrency of options.concurrency) byConcurrency.set(concurrency, await measureConcurrency(vhost, collector, broker, model, concurrency));
    return byConcurrency;
  } finally {
    await collector?.close();
    await broker.close();
    await model.close();
  }
});

const rows = [...results].map(([concurrency, runs]) => {
  const emailsPerSecond = median(runs.map((run) => run.emailsPerSecond));
  const ideal = concurrency / (options.latency / 1000);
  return {
    concurrency,
    emails_per_run: runs[0].emails,
    emails_per_second_median: round(emailsPerSecond, 2),
    ideal_emails_per_second: round(ideal, 2),
    efficiency_median: round(median(runs.map((run) => run.efficiency)), 3),
    // One queue hop per email: the classifier takes it from emails.to_classify to emails.to_respond.
    ratio_to_ceiling: round(emailsPerSecond / ceiling.medianHopsPerSecond, 4),
    runs_efficiency: runs.map((run) => round(run.efficiency, 3)),
    worker_cpu_cores_median: round(median(runs.map((run) => run.workerCores)), 2),
    fake_and_bench_cpu_cores_median: round(median(runs.map((run) => run.benchCores)), 2),
  };
});
const atTarget = rows.find((row) => row.concurrency === TARGET_CONCURRENCY);

printReport(
  {
    bench: 'llm-scaling',
    role: 'classifier',
    latency_ms: options.latency,
    runs: options.runs,
    waves: options.waves,
    ceiling_hops_per_second_median: round(ceiling.medianHopsPerSecond),
    prefetch: options.prefetch || 'concurrency',
    target: { concurrency: TARGET_CONCURRENCY, efficiency: TARGET_EFFICIENCY, met: atTarget ? atTarget.efficiency_median >= TARGET_EFFICIENCY : null },
    results: rows,
  },
  [
    {
      title: `LLM-bound scaling: one classifier process, model latency ${options.latency} ms (median of ${options.runs} runs)`,
      columns: ['concurrency', 'emails/run', 'emails/s', 'ideal', 'efficiency', 'runs', 'worker CPU', 'fake CPU'],
      rows: rows.map((row) => [
        row.concurrency,
        row.emails_per_run,
        row.emails_per_second_median,
        row.ideal_emails_per_second,
        row.efficiency_median,
        row.runs_efficiency.join(', '),
        row.worker_cpu_cores_median,
        row.fake_and_bench_cpu_cores_median,
      ]),
      notes: [
        'ideal = concurrency ÷ latency; efficiency = emails/s ÷ ideal',
        'emails/s = emails ÷ (time the last classified email reached emails.to_respond − time of the first model request),',
        '  on a warm worker (one process per concurrency, a warm-up batch first); emails per run = concurrency × waves',
        'the model: @google/genai in the worker → loopback Gemini fake in this process, fixed answer after the latency',
        `target: efficiency ≥ ${TARGET_EFFICIENCY} at concurrency ${TARGET_CONCURRENCY}: ${atTarget ? (atTarget.efficiency_median >= TARGET_EFFICIENCY ? 'met' : 'not met') : 'not measured'}`,
        'CPU in cores over the measured time: the worker process, and this process (the fake model and the output counter)',
        `broker ceiling in this run: ${round(ceiling.medianHopsPerSecond)} hops/s; one classified email = 1 hop, so its ratio is emails/s ÷ ceiling (${rows.map((row) => row.ratio_to_ceiling).join(', ')})`,
      ],
    },
  ],
);
