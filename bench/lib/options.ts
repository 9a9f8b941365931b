/** Parsers of command-line values shared by the benchmark scripts (commander option callbacks). */
import { InvalidArgumentError, type Command } from 'commander';

/** A positive integer, e.g. `--runs 3`. */
export function integerOption(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 1) throw new InvalidArgumentError(`expected a positive integer, got ${JSON.stringify(value)}`);
  return number;
}

/** A comma-separated list of positive integers, e.g. `--concurrency 1,8,32,128`. */
export function integerListOption(value: string): number[] {
  return value.split(',').map((part) => integerOption(part.trim()));
}

/** `--env NAME=VALUE`, repeatable: collects worker environment overrides into an object. */
export function environmentOption(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(value);
  if (!match) throw new InvalidArgumentError(`expected NAME=VALUE, got ${JSON.stringify(value)}`);
  return { ...previous, [match[1]]: match[2] };
}

/** Options every benchmark has: the workers' log level and the ceiling measured as the reference. */
export interface CommonOptions {
  logLevel: string;
  ceilingRuns: number;
  ceilingMessages: number;
}

/** Adds `--log-level`, `--ceiling-runs` and `--ceiling-messages` to a benchmark's command. */
export function withCommonOptions(command: Command): Command {
  return command
    .option('--log-level <level>', 'LOG_LEVEL of the workers', 'info')
    .option('--ceiling-runs <n>', 'runs of the broker ceiling', integerOption, 3)
    .option('--ceiling-messages <n>', 'messages per ceiling run', integerOption, 5000);
}

/** Options of the benchmarks that run the whole pipeline, on top of {@link CommonOptions}. */
export interface PipelineOptions extends CommonOptions {
  pollInterval: number;
  env: Record<string, string>;
}

/** {@link withCommonOptions} plus `--poll-interval` and the repeatable `--env NAME=VALUE`. */
export function withPipelineOptions(command: Command): Command {
  return withCommonOptions(command)
    .option('--poll-interval <ms>', 'POLL_INTERVAL_MS of the poller', integerOption, 100)
    .option('--env <NAME=VALUE>', 'worker environment override, repeatable (e.g. CONCURRENCY_SENDER=32)', environmentOption, {});
}
