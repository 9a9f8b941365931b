/**
 * Reading Prometheus text expositions in tests: the value of one sample, and `promtool check
 * metrics` (Debian package `prometheus`). Where promtool is missing a test skips on a workstation
 * but fails in CI (`CI=true`), which must install it.
 */
import { spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

/** What promtool said: its exit status and its lint findings (empty when the text passes). */
export interface PromtoolVerdict {
  status: number | null;
  findings: string;
}

/**
 * Runs promtool on `exposition`. Returns undefined after skipping `context` when promtool is not
 * installed outside CI; throws in CI.
 */
export function promtoolCheck(context: TestContext, exposition: string): PromtoolVerdict | undefined {
  const result = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8', timeout: 30_000 });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    const advice = 'promtool is not installed: apt-get install -y --no-install-recommends prometheus';
    if (process.env.CI === 'true') throw new Error(`${advice} (CI must install it)`);
    context.skip(advice);
    return undefined;
  }
  if (result.error) throw result.error;
  return { status: result.status, findings: `${result.stdout}${result.stderr}`.trim() };
}

/** One sample line of an exposition. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The sample lines of an exposition (comments skipped); label values unescaped. */
export function parseExposition(exposition: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of exposition.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const pair of (match[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[pair[1]] = pair[2].replace(/\\(.)/g, (_, character: string) => (character === 'n' ? '\n' : character));
    }
    samples.push({ name: match[1], labels, value: Number(match[3]) });
  }
  return samples;
}

/** The value of the sample `name` whose labels include `labels`, or undefined when there is none. */
export function sampleValue(exposition: string, name: string, labels: Record<string, string> = {}): number | undefined {
  return parseExposition(exposition).find((sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value))
    ?.value;
}
