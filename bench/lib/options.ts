/** Parsers of command-line values shared by the benchmark scripts (commander option callbacks). */
import { InvalidArgumentError } from 'commander';

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
