/**
 * `dlq list | show <id> | replay <id> | replay --all | replay --reason <text> | purge [--yes]`:
 * the operator's view of dead_letter_queue, on top of src/messaging/dead-letters.ts. Output goes
 * to stdout, logs and errors to stderr; the exit code is 1 when anything failed.
 */
import type { Command } from 'commander';
import type { Config } from '../app/config.js';
import type { DeadLetterEntry, DeadLetterOutcome } from '../messaging/dead-letters.js';

/** The dead-letter tools, loaded when a dlq command runs (not for the CLI's `--help`). */
const deadLetters = () => import('../messaging/dead-letters.js');

type Selector = (entry: DeadLetterEntry) => boolean;

interface SelectOptions {
  all?: boolean;
  reason?: string;
}

/** Adds the `dlq` command and its subcommands to `program`; `configuration` loads the Config. */
export function registerDeadLetterCommand(program: Command, configuration: () => Promise<Config>): void {
  const dlq = program
    .command('dlq')
    .description('list, show, replay or purge the dead letters in dead_letter_queue')
    .addHelpText(
      'after',
      '\nReplay republishes the original message to its work queue with its attempts reset;\nonly one dlq command at a time holds the queue (a second one is refused).',
    );

  dlq
    .command('list')
    .description('a table of every dead letter (the queue is left as it was)')
    .option('--json', 'one JSON object per line instead of the table')
    .action(async ({ json }: { json?: boolean }) =>
      run(async () => {
        const { listDeadLetters } = await deadLetters();
        const entries = await listDeadLetters({ config: await configuration() });
        if (json) for (const entry of entries) process.stdout.write(`${JSON.stringify(entry)}\n`);
        else process.stdout.write(formatTable(entries));
        return 0;
      }),
    );

  dlq
    .command('show')
    .description('one dead letter in full: record, original message and headers, as JSON')
    .argument('<id>', 'the id shown by `dlq list`')
    .action(async (id: string) =>
      run(async () => {
        const { listDeadLetters } = await deadLetters();
        const entry = (await listDeadLetters({ config: await configuration() })).find((candidate) => candidate.id === id);
        if (!entry) {
          process.stderr.write(`no dead letter with id ${id}\n`);
          return 1;
        }
        process.stdout.write(`${JSON.stringify(entry, null, 2)}\n`);
        return 0;
      }),
    );

  dlq
    .command('replay')
    .description('republish dead letters to their original queue, attempts reset, and record it in the activity log')
    .argument('[id]', 'the id shown by `dlq list`')
    .option('--all', 'every dead letter')
    .option('--reason <text>', 'dead letters whose reason or error type contains the text (case-insensitive)')
    .action(async (id: string | undefined, options: SelectOptions) =>
      run(async () => {
        const { reasonContains, replayDeadLetters } = await deadLetters();
        const select = selector(id, options, reasonContains);
        if (!select) return usage('replay needs an <id>, --all or --reason <text>');
        const config = await configuration();
        const [{ Broker }, { createLogger }] = await Promise.all([import('../messaging/broker.js'), import('../lib/log.js')]);
        const broker = new Broker(config, createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT, role: 'dlq' }));
        try {
          await broker.start();
          const outcome = await replayDeadLetters({ config, broker }, select);
          for (const entry of outcome.done) process.stdout.write(`replayed ${entry.id} to ${entry.originalQueue}\n`);
          return report(outcome, 'replayed');
        } finally {
          await broker.close();
        }
      }),
    );

  dlq
    .command('purge')
    .description('delete dead letters for good (all of them unless an id or --reason says which)')
    .argument('[id]', 'the id shown by `dlq list`')
    .option('--reason <text>', 'dead letters whose reason or error type contains the text (case-insensitive)')
    .option('--yes', 'really delete; without it the command only prints what it would delete')
    .action(async (id: string | undefined, options: SelectOptions & { yes?: boolean }) =>
      run(async () => {
        const { listDeadLetters, purgeDeadLetters, reasonContains } = await deadLetters();
        const select = selector(id, { ...options, all: id === undefined && options.reason === undefined }, reasonContains);
        const config = await configuration();
        if (!options.yes) {
          const entries = (await listDeadLetters({ config })).filter(select!);
          process.stdout.write(formatTable(entries));
          process.stdout.write(`would delete ${entries.length} dead letter(s); run again with --yes to delete them\n`);
          return 0;
        }
        const outcome = await purgeDeadLetters({ config }, select!);
        for (const entry of outcome.done) process.stdout.write(`deleted ${entry.id}\n`);
        return report(outcome, 'deleted');
      }),
    );
}

/** The entries an id, --all or --reason selects; undefined when none was given. */
function selector(id: string | undefined, { all, reason }: SelectOptions, reasonContains: (text: string) => Selector): Selector | undefined {
  if (id !== undefined) return (entry) => entry.id === id;
  if (reason !== undefined) return reasonContains(reason);
  if (all) return () => true;
  return undefined;
}

function report(outcome: DeadLetterOutcome, verb: string): number {
  for (const { entry, error } of outcome.failed) process.stderr.write(`${entry.id} left in the queue: ${error}\n`);
  process.stdout.write(`${verb} ${outcome.done.length}, failed ${outcome.failed.length}\n`);
  return outcome.failed.length > 0 ? 1 : 0;
}

function usage(message: string): number {
  process.stderr.write(`${message}\n`);
  return 2;
}

/** Runs a subcommand: its result is the exit code; an error is printed without a stack. */
async function run(action: () => Promise<number>): Promise<void> {
  // `dlq list | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
  try {
    process.exitCode = await action();
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exitCode = 1;
  }
}

const COLUMNS = ['ID', 'AGE', 'QUEUE', 'REASON', 'TYPE', 'RETRIES', 'EMAIL / DOCUMENT'] as const;

/** The `list` table; long reasons and ids are cut so a row fits a terminal line. */
export function formatTable(entries: DeadLetterEntry[]): string {
  if (entries.length === 0) return 'dead_letter_queue is empty\n';
  const rows = entries.map((entry) => [
    entry.id,
    formatAge(entry.ageMs),
    entry.originalQueue ?? '?',
    cut(entry.reason.replace(/\s+/g, ' '), 48),
    entry.kind === 'broker' ? 'broker' : entry.errorType,
    String(entry.retryCount),
    cut(entry.emailId ?? entry.documentId ?? '', 40),
  ]);
  const widths = COLUMNS.map((title, index) => Math.max(title.length, ...rows.map((row) => row[index]!.length)));
  const line = (cells: readonly string[]) =>
    `${cells
      .map((cell, index) => cell.padEnd(widths[index]!))
      .join('  ')
      .trimEnd()}\n`;
  return [line(COLUMNS), ...rows.map(line), `${entries.length} dead letter(s)\n`].join('');
}

function formatAge(ageMs: number | null): string {
  if (ageMs === null) return '?';
  const seconds = Math.floor(ageMs / 1000);
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3_600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3_600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}

function cut(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}
