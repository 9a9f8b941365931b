/**
 * Benchmark 4, latency: p50 / p95 / p99 from the poll to the sent reply under a steady load of half
 * the maximum throughput measured in the same run (zero-latency providers, as benchmark 2).
 *
 *   npx tsx bench/latency.ts [--mode per-role] [--duration 30] [--runs 3] [--load-fraction 0.5]
 */
import { Command, Option } from 'commander';
import { withBenchVhost } from './lib/bench-vhost.js';
import { HOP_DEFINITION, measureReference } from './lib/broker-ceiling.js';
import { benchEmail, deliverOne, sampleManuals, sampleTemplates, type EmailTemplate, type OutgoingEmail } from './lib/emails.js';
import { waitUntil } from './lib/activity.js';
import { integerOption, withPipelineOptions, type PipelineOptions } from './lib/options.js';
import { PIPELINE_MODES, startPipeline, type PipelineMode, type RunningPipeline } from './lib/pipeline.js';
import { printReport, progress } from './lib/report.js';
import { median, percentile, round } from './lib/stats.js';

const options = withPipelineOptions(
  new Command('latency')
    .description('poll → sent latency percentiles at a steady fraction of the measured maximum load')
    .addOption(new Option('--mode <mode>', 'workers: one process per role, or all roles in one').choices([...PIPELINE_MODES]).default('per-role'))
    .option('--duration <s>', 'seconds of steady load per run', integerOption, 30)
    .option('--warmup <s>', 'first seconds of each run left out of the percentiles', integerOption, 5)
    .option('--runs <n>', 'runs of steady load', integerOption, 3)
    .option('--load-fraction <f>', 'load as a fraction of the measured maximum', Number, 0.5)
    .option('--rate <emails/s>', 'use this load instead of measuring the maximum', Number)
    .option('--max-emails <n>', 'backlog used to measure the maximum', integerOption, 1000),
)
  .parse()
  .opts<{ mode: PipelineMode; duration: number; warmup: number; runs: number; loadFraction: number; rate?: number; maxEmails: number } & PipelineOptions>();

function email(templates: EmailTemplate[], runId: string, index: number): OutgoingEmail {
  return benchEmail(templates[index % templates.length], runId, index);
}

interface LoadRun {
  /** Emails delivered, and those inside the measured part (after the warm-up seconds). */
  delivered: number;
  measured: number;
  /** Delivered ÷ duration, and finished ÷ (last final − first received): equal when the load was steady. */
  offeredPerSecond: number;
  completedPerSecond: number;
  /** Poll → final state (the `received` event to the `sent`/`drafted` event), ms. */
  pollToSent: { p50: number; p95: number; p99: number; max: number };
  /** Delivery into the Maildir → final state, ms: adds the wait for the next poll. */
  deliveryToSent: { p50: number; p95: number; p99: number };
  /** The responder's retrieval (its `retrieved` events' duration_ms, wall time) at this steady load, ms. */
  retrieval: { p50: number; p95: number; p99: number };
  states: Record<string, number>;
}

/** Delivers `rate` emails a second for `durationSeconds`, evenly, then waits until every one finished. */
async function steadyLoad(pipeline: RunningPipeline, templates: EmailTemplate[], runId: string, rate: number): Promise<LoadRun> {
  const deliveredAt = new Map<string, number>();
  const started = Date.now();
  const total = Math.round(rate * options.duration);
  for (let index = 0; index < total; index++) {
    // Each email at its own moment on the schedule, so the load does not come in bursts.
    const due = started + (index / rate) * 1000;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const next = email(templates, runId, index);
    deliveredAt.set(next.emailId, Date.now());
    await deliverOne(pipeline.config.MAILDIR_ROOT, next);
  }
  const ids = [...deliveredAt.keys()];
  await waitUntil(async () => {
    const finished = await pipeline.activity.finishedCount(ids);
    return { done: finished >= total, progress: finished };
  }, `the steady load of run ${runId}`);
  const passages = await pipeline.activity.passages(ids);
  const measured = passages.filter((passage) => (deliveredAt.get(passage.emailId) ?? 0) >= started + options.warmup * 1000);
  const pollToSent = measured.map((passage) => passage.finalMs - passage.receivedMs);
  const deliveryToSent = measured.map((passage) => passage.finalMs - deliveredAt.get(passage.emailId)!);
  const retrieval = await pipeline.activity.stageDurations(
    measured.map((passage) => passage.emailId),
    'retrieved',
  );
  const window = (Math.max(...passages.map((passage) => passage.finalMs)) - Math.min(...passages.map((passage) => passage.receivedMs))) / 1000;
  const percentiles = (values: number[]) => ({ p50: percentile(values, 0.5), p95: percentile(values, 0.95), p99: percentile(values, 0.99) });
  return {
    delivered: total,
    measured: measured.length,
    offeredPerSecond: total / options.duration,
    completedPerSecond: passages.length / window,
    pollToSent: { ...percentiles(pollToSent), max: Math.max(...pollToSent) },
    deliveryToSent: percentiles(deliveryToSent),
    retrieval: percentiles(retrieval),
    states: await pipeline.activity.statesOf(ids),
  };
}

progress(`broker ceiling: ${options.ceilingRuns} runs of ${options.ceilingMessages} messages`);
const ceiling = await measureReference(options.ceilingRuns, options.ceilingMessages);

const { maximum, rate, runs } = await withBenchVhost(`latency-${options.mode}`, async (vhost) => {
  progress(`${options.mode}: starting the workers`);
  const pipeline = await startPipeline(vhost, { mode: options.mode, logLevel: options.logLevel, pollIntervalMs: options.pollInterval, env: options.env });
  try {
    await pipeline.ingest(await sampleManuals());
    const templates = await sampleTemplates();
    await pipeline.runBacklog(Array.from({ length: 100 }, (_unused, index) => email(templates, 'warmup', index)));
    let maximum: number | undefined;
    if (options.rate === undefined) {
      const backlog = await pipeline.runBacklog(Array.from({ length: options.maxEmails }, (_unused, index) => email(templates, 'max', index)));
      maximum = backlog.emailsPerSecond;
      progress(`maximum: ${round(maximum, 1)} emails/s (backlog of ${options.maxEmails})`);
    }
    const rate = options.rate ?? maximum! * options.loadFraction;
    const runs: LoadRun[] = [];
    for (let run = 1; run <= options.runs; run++) {
      const result = await steadyLoad(pipeline, templates, `load${run}`, rate);
      progress(
        `run ${run}: ${round(result.completedPerSecond, 1)} emails/s, poll → sent p50 ${result.pollToSent.p50} ms, p95 ${result.pollToSent.p95} ms, p99 ${result.pollToSent.p99} ms`,
      );
      runs.push(result);
    }
    return { maximum, rate, runs };
  } finally {
    await pipeline.stop();
  }
});

const medianOf = (pick: (run: LoadRun) => number) => round(median(runs.map(pick)));
const figures = {
  poll_to_sent_ms: { p50: medianOf((run) => run.pollToSent.p50), p95: medianOf((run) => run.pollToSent.p95), p99: medianOf((run) => run.pollToSent.p99) },
  delivery_to_sent_ms: {
    p50: medianOf((run) => run.deliveryToSent.p50),
    p95: medianOf((run) => run.deliveryToSent.p95),
    p99: medianOf((run) => run.deliveryToSent.p99),
  },
  retrieval_in_responder_ms: {
    p50: medianOf((run) => run.retrieval.p50),
    p95: medianOf((run) => run.retrieval.p95),
    p99: medianOf((run) => run.retrieval.p99),
  },
};
printReport(
  {
    bench: 'latency',
    mode: options.mode,
    poll_interval_ms: options.pollInterval,
    env: options.env,
    maximum_emails_per_second: maximum === undefined ? null : round(maximum, 1),
    load_emails_per_second: round(rate, 1),
    load_hops_per_second: round(rate * 3),
    ceiling_hops_per_second_median: round(ceiling.medianHopsPerSecond),
    load_ratio_to_ceiling: round((rate * 3) / ceiling.medianHopsPerSecond, 4),
    duration_s: options.duration,
    runs: options.runs,
    ...figures,
    runs_detail: runs.map((run) => ({
      delivered: run.delivered,
      measured: run.measured,
      completed_per_second: round(run.completedPerSecond, 1),
      poll_to_sent_ms: run.pollToSent,
      retrieval_in_responder_ms: run.retrieval,
      states: run.states,
    })),
  },
  [
    {
      title: `Latency at ${round(rate, 1)} emails/s (${maximum === undefined ? 'given rate' : `${options.loadFraction} × the measured maximum of ${round(maximum, 1)}`}), ${options.mode}, median of ${options.runs} runs of ${options.duration} s`,
      columns: ['span', 'p50 (ms)', 'p95 (ms)', 'p99 (ms)', 'runs p99 (ms)'],
      rows: [
        [
          'poll → sent',
          figures.poll_to_sent_ms.p50,
          figures.poll_to_sent_ms.p95,
          figures.poll_to_sent_ms.p99,
          runs.map((run) => run.pollToSent.p99).join(', '),
        ],
        [
          'delivery → sent',
          figures.delivery_to_sent_ms.p50,
          figures.delivery_to_sent_ms.p95,
          figures.delivery_to_sent_ms.p99,
          runs.map((run) => run.deliveryToSent.p99).join(', '),
        ],
        [
          'retrieval in the responder',
          figures.retrieval_in_responder_ms.p50,
          figures.retrieval_in_responder_ms.p95,
          figures.retrieval_in_responder_ms.p99,
          runs.map((run) => run.retrieval.p99).join(', '),
        ],
      ],
      notes: [
        "poll → sent: from the poller's `received` event (stamped just before the email's publish to emails.to_classify, which carries it)",
        "  to the sender's final event (`sent`, or `drafted` when the send policy keeps a draft), both stamped by the roles",
        `delivery → sent adds the wait for the next poll (POLL_INTERVAL_MS=${options.pollInterval})`,
        "retrieval: the responder's `retrieved` events' duration_ms (retrieveForEmail, wall time) of the measured emails",
        `the first ${options.warmup} s of each run are left out; completed rate per run: ${runs.map((run) => round(run.completedPerSecond, 1)).join(', ')} emails/s`,
        `load = ${round(rate * 3)} hops/s = ${round((rate * 3) / ceiling.medianHopsPerSecond, 4)} of the broker ceiling (${round(ceiling.medianHopsPerSecond)} hops/s; ${HOP_DEFINITION})`,
      ],
    },
  ],
);
