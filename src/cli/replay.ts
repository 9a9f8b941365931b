/**
 * `replay --stage classify|respond --since <time> [--until <time>] [--mailbox <address>] [--shadow] [--dry-run]`:
 * re-runs the emails received in a time window through a stage, from the `events.audit` stream
 * (src/messaging/audit-replay.ts). Output goes to stdout, logs and errors to stderr.
 */
import { Option, type Command } from 'commander';
import type { Config } from '../app/config.js';
import type { ReplayStage } from '../messaging/audit-replay.js';

/**
 * The stages `--stage` accepts, named here so `--help` does not load the replay (its message
 * schemas, the broker); the type makes the list exactly audit-replay.ts's REPLAY_STAGES.
 */
const STAGE_CHOICES: { readonly [Stage in ReplayStage]: true } = { classify: true, respond: true };

interface ReplayCommandOptions {
  stage: ReplayStage;
  since: string;
  until?: string;
  mailbox?: string;
  shadow?: boolean;
  dryRun?: boolean;
}

/** Adds the `replay` command to `program`; `configuration` loads the Config. */
export function registerReplayCommand(program: Command, configuration: () => Promise<Config>): void {
  program
    .command('replay')
    .description('re-run the emails received in a time window through a stage, from the events.audit stream')
    .addOption(new Option('--stage <stage>', 'the stage to start at').choices(Object.keys(STAGE_CHOICES)).makeOptionMandatory())
    .requiredOption('--since <time>', 'emails received at or after this time (ISO 8601, e.g. 2026-11-15 or 2026-11-15T08:00Z)')
    .option('--until <time>', 'and before this time (default now)')
    .option('--mailbox <address>', 'only the emails of this mailbox (agent_email)')
    .option('--shadow', 'send nothing: replies are recorded as shadowed, the real ones stay as they are')
    .option('--dry-run', 'only list the emails that would be replayed')
    .addHelpText(
      'after',
      [
        '',
        'Only emails whose copy is in the stream can be replayed: EVENTS_MAX_AGE bounds how far back.',
        'Without --shadow the replay is live, but the sender still never sends a second reply to an email.',
        'classify re-runs everything from classification on; respond uses the original classification.',
      ].join('\n'),
    )
    .action(async (options: ReplayCommandOptions) => {
      const since = parseTime(options.since, '--since');
      const until = options.until === undefined ? new Date() : parseTime(options.until, '--until');
      if (!since || !until) return;
      if (since.getTime() >= until.getTime()) return fail(`--since (${since.toISOString()}) must be before --until (${until.toISOString()})`, 2);
      if (since.getTime() > Date.now()) return fail('--since is in the future: nothing was received then', 2);
      const config = await configuration();
      const [{ Broker }, { createLogger }, { replayFromAudit }] = await Promise.all([
        import('../messaging/broker.js'),
        import('../lib/log.js'),
        import('../messaging/audit-replay.js'),
      ]);
      const broker = new Broker(config, createLogger({ level: config.LOG_LEVEL, format: config.LOG_FORMAT, role: 'replay' }));
      try {
        await broker.start();
        const report = await replayFromAudit(broker, {
          stage: options.stage,
          since,
          until,
          mailbox: options.mailbox,
          shadow: options.shadow === true,
          dryRun: options.dryRun,
        });
        const verb = options.dryRun ? 'would replay' : 'replayed';
        for (const email of report.replayed) process.stdout.write(`${verb} ${email.email_id} (${email.agent_email}, received ${email.received_at})\n`);
        for (const { email_id, reason } of report.skipped) process.stdout.write(`skipped ${email_id}: ${reason}\n`);
        for (const { event_id, reason } of report.refused) process.stderr.write(`warning: event ${event_id} not used: ${reason}\n`);
        const mode = options.shadow ? 'shadow' : 'live';
        process.stdout.write(
          `${verb} ${report.replayed.length} email(s) through ${options.stage} (${mode}, replay ${report.replay_id}), skipped ${report.skipped.length}, ${report.events_read} event(s) read\n`,
        );
        process.exitCode = 0;
      } catch (error) {
        fail((error as Error).message, 1);
      } finally {
        await broker.close();
      }
    });
}

/** A time from the command line; a date alone is midnight UTC. Undefined (and exit code 2) when unreadable. */
function parseTime(text: string, option: string): Date | undefined {
  const time = new Date(text);
  if (Number.isNaN(time.getTime())) {
    fail(`${option} ${JSON.stringify(text)} is not a time: use ISO 8601, e.g. 2026-11-15 or 2026-11-15T08:00:00Z`, 2);
    return undefined;
  }
  return time;
}

function fail(message: string, code: number): void {
  process.stderr.write(`${message}\n`);
  process.exitCode = code;
}
