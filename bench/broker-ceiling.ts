/**
 * Benchmark 1, the broker ceiling (the reference of every other benchmark): persistent
 * publish-with-confirms plus manual-ack consume through one queue, plain amqplib, hops per second.
 * Runs on a vhost of its own.
 *
 *   npx tsx bench/broker-ceiling.ts [--messages 5000] [--runs 5] [--window 256] [--body-bytes 1000]
 */
import { Command } from 'commander';
import { withBenchVhost } from './lib/bench-vhost.js';
import { DEFAULT_CEILING_OPTIONS, HOP_DEFINITION, measureCeiling } from './lib/broker-ceiling.js';
import { integerOption } from './lib/options.js';
import { printReport, progress } from './lib/report.js';
import { round } from './lib/stats.js';

const options = new Command('broker-ceiling')
  .description('persistent publish-with-confirms + manual-ack consume through one queue, plain amqplib')
  .option('--messages <n>', 'messages per run', integerOption, DEFAULT_CEILING_OPTIONS.messages)
  .option('--runs <n>', 'measured runs (after one warm-up)', integerOption, DEFAULT_CEILING_OPTIONS.runs)
  .option('--window <n>', 'publishes in flight per confirm wait, and the consumer prefetch', integerOption, DEFAULT_CEILING_OPTIONS.window)
  .option('--body-bytes <n>', 'message body size', integerOption, DEFAULT_CEILING_OPTIONS.bodyBytes)
  .parse()
  .opts<{ messages: number; runs: number; window: number; bodyBytes: number }>();

const result = await withBenchVhost('ceiling', async (vhost) => {
  progress(`measuring the ceiling: ${options.runs} runs of ${options.messages} messages`);
  return measureCeiling(vhost.amqpUrl, options);
});

printReport(
  {
    bench: 'broker-ceiling',
    ...result.options,
    hops_per_second_median: round(result.medianHopsPerSecond),
    runs_hops_per_second: result.hopsPerSecond.map((rate) => round(rate)),
  },
  [
    {
      title: `Broker ceiling (median of ${options.runs} runs)`,
      columns: ['figure', 'value'],
      rows: [
        ['hops/s median', round(result.medianHopsPerSecond)],
        ['hops/s per run', result.hopsPerSecond.map((rate) => round(rate)).join(', ')],
      ],
      notes: [
        HOP_DEFINITION,
        `${options.messages} messages of ${options.bodyBytes} bytes per run, confirms awaited every ${options.window} publishes, prefetch ${options.window}`,
      ],
    },
  ],
);
