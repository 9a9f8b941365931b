/**
 * The one door in: `worker --role=<name>` runs roles, `topology` declares the broker topology and
 * prints what exists, `db-copy` moves a SQLite file's stores to PostgreSQL, `eval` is `npm run
 * eval` where only the compiled dist/ is installed (the image, and the api role that runs an
 * evaluation for the dashboard).
 */
import module from 'node:module';
import { Command, Option } from 'commander';
import type { Config } from '../app/config.js';
import type { Logger } from '../lib/log.js';
import { ROLE_DESCRIPTIONS, ROLE_NAMES, type RoleName } from '../app/role-names.js';
import { registerDeadLetterCommand } from './dlq.js';
import { registerReplayCommand } from './replay.js';
import { registerDatabaseCopyCommand } from './db-copy.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// V8's compiled code kept on disk between starts (NODE_COMPILE_CACHE, else the temporary folder), for
// every module loaded from here on: Node 22.1 and later; Node 20 has no such cache and starts as before.
(module as { enableCompileCache?: () => unknown }).enableCompileCache?.();

// Everything past commander and the role names is loaded by the command that needs it: `--help`
// and a mistyped option load no configuration schema (zod), logger (winston), broker or database.

/** The configuration from the environment and .env; a bad value exits 2 with the variable's name. */
async function configuration(): Promise<Config> {
  const [{ config: loadDotenv }, { ConfigError, loadConfig }] = await Promise.all([import('dotenv'), import('../app/config.js')]);
  loadDotenv({ quiet: true });
  try {
    return loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    throw error;
  }
}

/** The logger of a command, at the configured level and format. */
async function commandLogger(config: Config, role: string): Promise<Logger> {
  const { createLogger } = await import('../lib/log.js');
  return createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT, role });
}

const program = new Command('ragmail').description('Answers customer-support email with retrieval-augmented generation, as RabbitMQ workers');

program
  .command('worker')
  .description('run one role, or all of them, in this process')
  .addOption(new Option('--role <role>', 'the role to run').choices([...ROLE_NAMES, 'all']).makeOptionMandatory())
  .addHelpText(
    'after',
    `\nRoles:\n${ROLE_NAMES.map((name) => `  ${name.padEnd(11)} ${ROLE_DESCRIPTIONS[name]}`).join('\n')}\n  all         every role above in one process\n\nOptions come from the environment or .env: see .env.example (AMQP_URL, CONCURRENCY_<ROLE>, MAX_ATTEMPTS, ...).`,
  )
  .action(async ({ role }: { role: RoleName | 'all' }) => {
    const config = await configuration();
    const logger = await commandLogger(config, role);
    const roles: RoleName[] = role === 'all' ? [...ROLE_NAMES] : [role];
    // Loaded here, not at the top: `--help` and the small commands need none of the roles or providers.
    const { startWorker } = await import('../app/worker.js');
    let worker;
    try {
      worker = await startWorker(roles, config, logger);
    } catch (error) {
      logger.error((error as Error).message);
      process.exit(1);
    }
    const shutdown = (signal: string) => {
      logger.info('shutting down', { signal, grace_ms: config.SHUTDOWN_GRACE_MS });
      worker.stop().then(
        () => process.exit(0),
        (error: Error) => {
          logger.error('shutdown failed', { error: error.message });
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', () => shutdown('SIGTERM'));
    process.once('SIGINT', () => shutdown('SIGINT'));
    worker.broker.on('fatal', (error: Error) => {
      logger.error(error.message);
      worker.stop().finally(() => process.exit(1));
    });
    logger.info('worker running', { roles });
  });

program
  .command('ingest')
  .description('upload PDF manuals for a mailbox: they go to documents.to_ingest for the ingester')
  .requiredOption('--mailbox <address>', 'the mailbox (agent_email) the manuals belong to')
  .argument('<files...>', 'PDF files')
  .addHelpText(
    'after',
    '\nEvery file and the mailbox are checked before anything is queued: one refused file (missing, not a PDF, over API_MAX_UPLOAD_BYTES) queues none and exits 2.',
  )
  .action(async (files: string[], { mailbox }: { mailbox: string }) => {
    const config = await configuration();
    const logger = await commandLogger(config, 'ingest');
    const [{ Broker }, { submitDocument }, { fileProblem, mailboxAddressSchema }] = await Promise.all([
      import('../messaging/broker.js'),
      import('../features/documents.js'),
      import('../features/document-check.js'),
    ]);
    // Everything is checked before the first publish, so a refused command leaves nothing half-queued.
    const address = mailboxAddressSchema.safeParse(mailbox);
    const problems = [
      ...(address.success ? [] : [`--mailbox ${JSON.stringify(mailbox)}: ${address.error.issues[0].message}`]),
      ...(await Promise.all(files.map((file) => fileProblem(file, config.API_MAX_UPLOAD_BYTES))))
        .filter((problem) => problem !== undefined)
        .map((problem) => problem.message),
    ];
    if (!address.success || problems.length > 0) {
      process.stderr.write(`${problems.join('\n')}\nNothing was queued.\n`);
      process.exitCode = 2;
      return;
    }
    const broker = new Broker(config, logger);
    try {
      await broker.start();
      for (const file of files) {
        const message = await submitDocument(broker, config.UPLOAD_DIR, {
          agentEmail: address.data,
          filename: path.basename(file),
          data: await readFile(file),
        });
        process.stdout.write(`queued ${message.filename} for ${message.agent_email} (document ${message.document_id})\n`);
      }
    } catch (error) {
      process.stderr.write(`${(error as Error).message}\n`);
      process.exitCode = 1;
    } finally {
      await broker.close();
    }
  });

program
  .command('topology')
  .description('declare the exchanges, queues and bindings, then print what exists on the broker')
  .action(async () => {
    const config = await configuration();
    const logger = await commandLogger(config, 'topology');
    const { printTopology } = await import('../messaging/topology-report.js');
    process.exitCode = await printTopology(config, logger);
  });

program
  .command('check-providers')
  .description('check the credentials and reachability of every configured provider and print a table; exits 1 when one failed')
  .action(async () => {
    const [{ checkProviders }, { printProviderTable }] = await Promise.all([import('../app/provider-checks.js'), import('./check-providers.js')]);
    const config = await configuration();
    const logger = await commandLogger(config, 'check-providers');
    const rows = await checkProviders(config, logger);
    printProviderTable(rows);
    process.exitCode = rows.some((row) => row.status === 'failed') ? 1 : 0;
  });

program
  .command('eval')
  .description('npm run eval: how the configured providers would answer test questions, nothing sent (src/eval/cli.ts)')
  // Its own flags (--mailbox, --json, limits…) are src/eval/cli.ts's: passed on as written, checked there.
  .helpOption(false)
  .allowUnknownOption()
  .allowExcessArguments()
  .argument('[arguments...]')
  .action(async (argv: string[]) => {
    (await import('dotenv')).config({ quiet: true });
    const { main } = await import('../eval/cli.js');
    // dist/cli/ or src/cli/: the project's root, where eval/ holds the dev set, is two folders up either way.
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
    process.exitCode = await main(argv, process.env, root);
  });

// dlq list | show | replay | purge: the dead-letter tools (src/cli/dlq.ts).
registerDeadLetterCommand(program, configuration);
// replay --stage ... --since ...: re-run a time window from the audit stream (src/cli/replay.ts).
registerReplayCommand(program, configuration);
// db-copy --from <file> --to <url>: move the stores of a SQLite file to PostgreSQL (src/cli/db-copy.ts).
registerDatabaseCopyCommand(program, configuration);

await program.parseAsync(process.argv);
