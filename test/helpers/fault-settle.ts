/**
 * When a fault run is over: every email ended, the work and retry queues empty (ready and in
 * flight), and nothing changing for a while. Used by fault-run.ts before the books are made.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import amqplib from 'amqplib';
import type { Config } from '../../src/app/config.js';
import { ManagementClient } from '../../src/messaging/management.js';
import { QUEUES, buildTopology } from '../../src/messaging/topology.js';
import { replyFileName } from '../../src/providers/mailbox/maildir.js';
import { replyMessageId } from '../../src/providers/mailbox/mime.js';
import { ActivityLog, isFinal } from '../../src/store/activity-log.js';
import { rejectedReasons, type Settlement } from './fault-accounting.js';
import type { CorpusEmail } from './fault-corpus.js';
import type { FaultRun } from './fault-run.js';
import { seconds } from './faults.js';
import { ACME, GLOBEX } from './pipeline.js';
import type { ReplyFolder } from './reply-watch.js';
import { filterOf } from './async-lists.js';

/** Work and retry queues: all must be empty before the books are made. */
function workQueues(config: Config): string[] {
  const topology = buildTopology({ maxAttempts: config.MAX_ATTEMPTS, retryBaseDelayMs: config.RETRY_BASE_DELAY_MS, eventsMaxAge: config.EVENTS_MAX_AGE });
  return topology.queues.map((queue) => queue.name).filter((name) => name !== QUEUES.deadLetter && name !== QUEUES.audit);
}

/** Ready messages of the work and retry queues, as of now; a new connection each time, so a broker restart does not break it. */
async function readyMessages(config: Config, queues: readonly string[]): Promise<number> {
  const connection = await amqplib.connect(config.AMQP_URL);
  try {
    const channel = await connection.createChannel();
    let total = 0;
    for (const queue of queues) total += (await channel.checkQueue(queue)).messageCount;
    return total;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

/** Ready plus unacknowledged (in flight) messages of the work and retry queues, as last sampled; undefined before a queue's first sample. */
async function sampledMessages(management: ManagementClient, queues: readonly string[]): Promise<number | undefined> {
  const listed = new Map((await management.queues()).map((queue) => [queue.name, queue.messages]));
  const counts = queues.map((queue) => listed.get(queue));
  return counts.every((count) => count !== undefined) ? counts.reduce((total, count) => total + count!, 0) : undefined;
}

/** Nothing may change for this long before a run counts as quiet: late copies (a redelivery, a duplicate publish) show by then. */
const QUIET_MS = 2_000;
/**
 * The management API samples its message counts (every 5 s by default, the broker's
 * `collect_statistics_interval`); a 0 counts once it has held for longer than that, so a message
 * held unacknowledged all along is sampled in between.
 */
const SAMPLED_ZERO_MS = 5_500;

/** What still moves in a run: emails not ended, messages in the queues, reply writes and logged events so far. */
interface Motion {
  notEnded: string[];
  ready: number;
  inQueues: number | undefined;
  replyWrites: number;
  events: number;
}

/**
 * Waits until every email ended (final in the log, rejected by the mailbox, or its reply on disk),
 * the work and retry queues hold nothing, ready or in flight, and nothing changed for a while.
 * Never throws: a run that did not go quiet in time says so, and {@link assertAccounted} fails on it.
 */
export async function waitUntilSettled(run: FaultRun, emails: readonly CorpusEmail[], timeoutMs: number): Promise<Settlement> {
  const activity = new ActivityLog(run.database);
  const management = new ManagementClient(run.config);
  const queues = workQueues(run.config);
  const countEvents = async () => ((await run.database.get<{ total: number }>('SELECT COUNT(*) AS total FROM events')) as { total: number }).total;
  const root = run.config.MAILDIR_ROOT;
  // A reply on disk ends an email too, whatever the log says: the books tell a log that missed it.
  const replied = (email: CorpusEmail) =>
    ['outbox', 'drafts'].some((folder) => existsSync(path.join(root, email.mailbox, folder, replyFileName(replyMessageId(email.mailboxKey, email.mailbox)))));
  const measure = async (): Promise<Motion> => {
    const rejected = rejectedReasons(root, [ACME, GLOBEX]);
    const notEnded = await filterOf(
      emails,
      async (email) => !rejected.has(email.emailId) && !isFinal((await activity.getEmail(email.emailId))?.state ?? '') && !replied(email),
    );
    const replyWrites = run.watch.seen().reduce((total, key) => {
      const [mailbox, folder, file] = key.split('/') as [string, ReplyFolder, string];
      return total + run.watch.writesOf(mailbox, folder, file);
    }, 0);
    return {
      notEnded: notEnded.map((email) => email.emailId),
      ready: await readyMessages(run.config, queues),
      inQueues: await sampledMessages(management, queues),
      replyWrites,
      events: await countEvents(),
    };
  };
  const started = Date.now();
  let last: Motion | undefined;
  let failure = '';
  let stillSince = started;
  let emptySince: number | undefined;
  while (Date.now() - started < timeoutMs) {
    try {
      const motion = await measure();
      const now = Date.now();
      failure = '';
      emptySince = motion.inQueues === 0 ? (emptySince ?? now) : undefined;
      const idle = motion.notEnded.length === 0 && motion.ready === 0 && motion.inQueues === 0;
      if (!idle || JSON.stringify(motion) !== JSON.stringify(last)) stillSince = now;
      last = motion;
      if (idle && now - stillSince >= QUIET_MS && now - emptySince! >= SAMPLED_ZERO_MS)
        return { quiet: true, detail: `quiet after ${seconds(started)} of waiting` };
    } catch (error) {
      // A broker still coming back: nothing is known, so nothing counts as still.
      failure = `; last reading failed: ${(error as Error).message}`;
      stillSince = Date.now();
    }
    await delay(250);
  }
  const moving =
    last &&
    `${last.notEnded.length} emails not ended (${last.notEnded.slice(0, 5).join(', ')}), ${last.ready} messages ready and ${last.inQueues ?? 'an unknown number of'} in the work queues (ready + in flight), ${last.replyWrites} reply writes and ${last.events} events logged`;
  return { quiet: false, detail: `still moving after ${(timeoutMs / 1000).toFixed(0)} s of waiting: ${moving ?? 'nothing could be read'}${failure}` };
}
