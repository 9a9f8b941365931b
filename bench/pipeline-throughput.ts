/**
 * Benchmark 2, pipeline throughput: emails per second from the Maildir to the reply with the
 * zero-latency embedded providers, all roles in one process and one process per role, and its
 * ratio to the broker ceiling measured in the same run (target ≥ 0.5).
 *
 *   npx tsx bench/pipeline-throughput.ts [--emails 500] [--runs 3] [--modes one-process,per-role]
 */
import { Command, Option } from 'commander';
import { withBenchVhost } from './lib/bench-vhost.js';
import { HOP_DEFINITION, measureReference } from './lib/broker-ceiling.js';
import { benchEmail, sampleManuals, sampleTemplates, type EmailTemplate, type OutgoingEmail } from './lib/emails.js';
import { integerOption, withPipelineOptions, type PipelineOptions } from './lib/options.js';
import { PIPELINE_MODES, startPipeline, type BacklogResult, type PipelineMode } from './lib/pipeline.js';
import { printReport, progress, type Table } from './lib/report.js';
import { median, round } from './lib/stats.js';

/** The issue's target: pipeline hops per second at least half the broker's. */
const TARGET_RATIO = 0.5;

const options = withPipelineOptions(
  new Command('pipeline-throughput')
    .description('emails per second Maildir → reply with zero-latency providers, vs the broker ceiling')
    .option('--emails <n>', 'emails per measured run', integerOption, 500)
    .option('--runs <n>', 'measured runs per mode', integerOption, 3)
    .option('--warmup <n>', 'emails of the unmeasured warm-up run per mode', integerOption, 100)
    .addOption(new Option('--modes <list>', 'comma-separated: one-process, per-role').default('one-process,per-role')),
)
  .parse()
  .opts<{ emails: number; runs: number; warmup: number; modes: string } & PipelineOptions>();

const modes = options.modes.split(',').map((mode) => mode.trim()) as PipelineMode[];
for (const mode of modes) if (!PIPELINE_MODES.includes(mode)) throw new Error(`unknown mode ${mode}; expected ${PIPELINE_MODES.join(', ')}`);

/** `count` copies of the templates, round robin, each with its own Message-ID. */
function backlog(templates: EmailTemplate[], runId: string, count: number): OutgoingEmail[] {
  return Array.from({ length: count }, (_unused, index) => benchEmail(templates[index % templates.length], runId, index));
}

interface ModeResult {
  runs: BacklogResult[];
  medianRun: BacklogResult;
  peakMemoryMiB: Record<string, number>;
}

progress(`broker ceiling: ${options.ceilingRuns} runs of ${options.ceilingMessages} messages`);
const ceiling = await measureReference(options.ceilingRuns, options.ceilingMessages);
progress(`ceiling ${round(ceiling.medianHopsPerSecond)} hops/s`);

const results = new Map<PipelineMode, ModeResult>();
for (const mode of modes) {
  results.set(
    mode,
    await withBenchVhost(`pipeline-${mode}`, async (vhost) => {
      progress(`${mode}: starting the workers`);
      const pipeline = await startPipeline(vhost, { mode, logLevel: options.logLevel, pollIntervalMs: options.pollInterval, env: options.env });
      try {
        await pipeline.ingest(await sampleManuals());
        const templates = await sampleTemplates();
        progress(`${mode}: warm-up with ${options.warmup} emails`);
        await pipeline.runBacklog(backlog(templates, `${mode}-warmup`, options.warmup));
        const runs: BacklogResult[] = [];
        for (let run = 1; run <= options.runs; run++) {
          const runId = `${mode}-run${run}`;
          const result = await pipeline.runBacklog(backlog(templates, runId, options.emails));
          progress(
            `${mode} run ${run}: ${round(result.emailsPerSecond, 1)} emails/s, ${round(result.hopsPerSecond)} hops/s, states ${JSON.stringify(result.states)}`,
          );
          runs.push(result);
        }
        const sorted = [...runs].sort((left, right) => left.emailsPerSecond - right.emailsPerSecond);
        return { runs, medianRun: sorted[Math.floor(sorted.length / 2)], peakMemoryMiB: pipeline.peakMemory() };
      } finally {
        await pipeline.stop();
      }
    }),
  );
}

const summary = (result: ModeResult) => {
  const hopsPerSecond = median(result.runs.map((run) => run.hopsPerSecond));
  const ratio = hopsPerSecond / ceiling.medianHopsPerSecond;
  return {
    emails_per_second_median: round(median(result.runs.map((run) => run.emailsPerSecond)), 1),
    hops_per_second_median: round(hopsPerSecond),
    ratio_to_ceiling: round(ratio, 3),
    target_met: ratio >= TARGET_RATIO,
    runs_emails_per_second: result.runs.map((run) => round(run.emailsPerSecond, 1)),
    states: result.medianRun.states,
    max_queue_depth: result.medianRun.maxQueueDepth,
    cpu_cores: Object.fromEntries(Object.entries(result.medianRun.cpuCores).map(([role, cores]) => [role, round(cores, 2)])),
    cpu_ms_per_email: Object.fromEntries(Object.entries(result.medianRun.cpuMsPerEmail).map(([role, ms]) => [role, round(ms, 2)])),
    machine_cpu_cores: round(result.medianRun.machineCores, 2),
    broker_cpu_cores: round(result.medianRun.brokerCores, 2),
    peak_memory_mib: Object.fromEntries(Object.entries(result.peakMemoryMiB).map(([role, mib]) => [role, round(mib)])),
    recorder_lag_ms: round(result.medianRun.recorderLagMs),
  };
};
const summaries = new Map([...results].map(([mode, result]) => [mode, summary(result)]));

const tables: Table[] = [
  {
    title: `Pipeline throughput, Maildir → reply, zero-latency providers (median of ${options.runs} runs of ${options.emails} emails)`,
    columns: ['mode', 'emails/s', 'hops/s', 'ceiling hops/s', 'ratio', 'target', 'met', 'runs (emails/s)'],
    rows: [...summaries].map(([mode, figures]) => [
      mode,
      figures.emails_per_second_median,
      figures.hops_per_second_median,
      round(ceiling.medianHopsPerSecond),
      figures.ratio_to_ceiling,
      `≥ ${TARGET_RATIO}`,
      figures.target_met ? 'yes' : 'no',
      figures.runs_emails_per_second.join(', '),
    ]),
    notes: [
      'pipeline hops = 3 per replied email (emails.to_classify, emails.to_respond, emails.to_send), 1 per email ignored at classification;',
      'each replied email also publishes 5 events (received, classified, retrieved, replied, sent) that the recorder reads from events.audit',
      `ceiling: ${HOP_DEFINITION}; median of ${options.ceilingRuns} runs in this run`,
      'emails/s = emails ÷ (last final event − first received event), event times stamped by the roles',
    ],
  },
];
for (const [mode, figures] of summaries) {
  const roles = Object.keys(figures.cpu_ms_per_email);
  tables.push({
    title: `${mode}: per process, median run`,
    columns: ['process', 'CPU (cores)', 'CPU ms/email', 'peak RSS (MiB)'],
    rows: roles.map((role) => [
      role,
      figures.cpu_cores[role] ?? figures.broker_cpu_cores,
      figures.cpu_ms_per_email[role],
      figures.peak_memory_mib[role] ?? '-',
    ]),
    notes: [
      `whole machine ${figures.machine_cpu_cores} of 2 cores busy, RabbitMQ ${figures.broker_cpu_cores} cores`,
      `most messages waiting: ${Object.entries(figures.max_queue_depth)
        .map(([queue, depth]) => `${queue} ${depth}`)
        .join(', ')}`,
      `final states: ${JSON.stringify(figures.states)}; recorder lag up to ${figures.recorder_lag_ms} ms`,
    ],
  });
}

printReport(
  {
    bench: 'pipeline-throughput',
    emails: options.emails,
    runs: options.runs,
    log_level: options.logLevel,
    poll_interval_ms: options.pollInterval,
    env: options.env,
    ceiling_hops_per_second_median: round(ceiling.medianHopsPerSecond),
    target_ratio: TARGET_RATIO,
    modes: Object.fromEntries(summaries),
  },
  tables,
);
