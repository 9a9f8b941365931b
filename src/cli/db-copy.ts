/**
 * `db-copy [--from <file>] [--to <url>] [--replace]`: moves the stores of a SQLite file to the
 * PostgreSQL database of DATABASE_URL (src/store/copy.ts). Prints each table's row counts on both
 * sides; exits 2 for a refused command (no source file, a target that holds data), 1 when the copy failed.
 */
import fs from 'node:fs';
import type { Command } from 'commander';
import type { Config } from '../app/config.js';

interface CopyCommandOptions {
  from?: string;
  to?: string;
  replace?: boolean;
}

/** Adds the `db-copy` command to `program`; `configuration` loads the Config. */
export function registerDatabaseCopyCommand(program: Command, configuration: () => Promise<Config>): void {
  program
    .command('db-copy')
    .description('copy the stores of a SQLite file (activity log, documents, reviews, send ledger and quota, ...) into PostgreSQL')
    .option('--from <file>', 'the SQLite file (default DATABASE_PATH)')
    .option('--to <url>', 'the PostgreSQL database, postgres://user:password@host:5432/name (default DATABASE_URL, with DATABASE_PASSWORD)')
    .option('--replace', 'empty the target first when it already holds data (otherwise refused: two histories are never merged)')
    .addHelpText(
      'after',
      [
        '',
        'Stop every worker first: rows written during the copy would be left behind.',
        'Both databases are brought to the current schema first: the target is created or migrated,',
        'and a SQLite file of an older release is migrated in place too.',
        "The copy is one transaction on the target (all or nothing); each table's row counts are then compared.",
      ].join('\n'),
    )
    .action(async (options: CopyCommandOptions) => {
      const config = await configuration();
      // Loaded here, not at the top: the CLI's `--help` needs neither database engine.
      const [{ isPostgresUrl, openDatabase }, { copyDatabase, TargetNotEmptyError }] = await Promise.all([
        import('../store/database.js'),
        import('../store/copy.js'),
      ]);
      const from = options.from ?? config.DATABASE_PATH;
      const to = options.to ?? config.DATABASE_URL;
      if (!fs.existsSync(from)) return fail(`--from ${JSON.stringify(from)}: no such SQLite file`, 2);
      if (!isPostgresUrl(to)) return fail('--to (or DATABASE_URL) must be a postgres:// or postgresql:// URL', 2);
      const source = await openDatabase(from);
      try {
        const target = await openDatabase(to);
        try {
          const copied = await copyDatabase(source, target, { replace: options.replace === true });
          const width = Math.max(...copied.map((entry) => entry.table.length));
          process.stdout.write(`${'table'.padEnd(width)}  ${'sqlite'.padStart(9)}  ${'postgres'.padStart(9)}\n`);
          for (const { table, source: before, target: after } of copied) {
            process.stdout.write(`${table.padEnd(width)}  ${String(before).padStart(9)}  ${String(after).padStart(9)}\n`);
          }
          process.stdout.write(`copied ${copied.reduce((sum, entry) => sum + entry.target, 0)} row(s) of ${copied.length} table(s); every count matches\n`);
          process.exitCode = 0;
        } finally {
          await target.close();
        }
      } catch (error) {
        fail((error as Error).message, error instanceof TargetNotEmptyError ? 2 : 1);
      } finally {
        await source.close();
      }
    });
}

function fail(message: string, code: number): void {
  process.stderr.write(`${message}\n`);
  process.exitCode = code;
}
