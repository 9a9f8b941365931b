/**
 * The compose stack as plain processes (`scripts/run-stack.ts`: one worker process per role and
 * replica) on a vhost of its own: the acme manuals uploaded, the acme sample emails dropped into the
 * Maildir, every email followed to its final state in the activity log the recorder process writes,
 * then SIGTERM, after which the stack and every worker process must be gone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import PostalMime from 'postal-mime';
import { createTestVhost, waitFor } from '../helpers/broker.js';
import { ACME, SAMPLES, filesIn } from '../helpers/pipeline.js';
import { PROJECT_ROOT } from '../helpers/worker-process.js';
import { Broker } from '../../src/messaging/broker.js';
import { QUEUES } from '../../src/messaging/topology.js';
import { submitDocument } from '../../src/features/documents.js';
import { deliverToMaildir } from '../../src/providers/mailbox/maildir.js';
import { parseEmail } from '../../src/providers/mailbox/mime.js';
import { openDatabase } from '../../src/store/database.js';
import { ActivityLog, isFinal, type EmailSummary } from '../../src/store/activity-log.js';
import { DocumentRegistry } from '../../src/store/documents.js';
import type { Email } from '../../src/pipeline/messages.js';
import { everyOf } from '../helpers/async-lists.js';

/** Worker processes (`src/cli/index.ts worker`) whose parent is `parentPid`, read from /proc: field 4 of `stat` is the parent. */
function workersOf(parentPid: number): number[] {
  const workers: number[] = [];
  for (const entry of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // The command name may hold spaces and parentheses: fields start after the last ')'.
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      // tsx's esbuild service is a child too; only the workers count.
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (parent === parentPid && command.some((part) => part.endsWith('src/cli/index.ts')) && command.includes('worker')) workers.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return workers;
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

test(
  'the stack as plain processes ingests the manuals, answers the acme sample emails, and stops cleanly on SIGTERM',
  { timeout: 120_000 },
  async (context) => {
    const vhost = await createTestVhost();
    const { config } = vhost;
    // Opened (and migrated) before the workers start, so they find the schema in place.
    const database = await openDatabase(config.DATABASE_PATH);
    const activity = new ActivityLog(database);
    const documents = new DocumentRegistry(database);
    const started = Date.now();
    const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

    const stack = spawn(process.execPath, ['--import', 'tsx', 'scripts/run-stack.ts'], {
      cwd: PROJECT_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        AMQP_URL: config.AMQP_URL,
        RABBITMQ_MANAGEMENT_URL: config.RABBITMQ_MANAGEMENT_URL,
        DATA_DIR: vhost.dataDir,
        METRICS_PORT: '0',
        METRICS_HOST: '127.0.0.1',
        // The dashboard too, on a free port so a running ragmail on 8080 does not stop the test.
        API_PORT: '0',
        API_HOST: '127.0.0.1',
        POLL_INTERVAL_MS: '200',
        LOG_LEVEL: 'warn',
        LOG_FORMAT: 'json',
        SHUTDOWN_GRACE_MS: '5000',
        RETRY_BASE_DELAY_MS: '200',
        AUDIT_STREAM_START: 'first',
        AMQP_TOPOLOGY: 'declare',
        // The embedded defaults, whatever a developer's .env says (dotenv never overrides these).
        LLM_PROVIDERS: 'local',
        EMBEDDING_PROVIDER: 'none',
        VECTOR_STORE: 'sqlite',
        MAILBOX_PROVIDER: 'maildir',
        REDIS_URL: '',
        SEND_POLICY: 'auto',
        MAILBOX_POLICIES: '',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    stack.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    stack.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      stack.once('exit', (code, signal) => resolve({ code, signal })),
    );
    const tail = () => `\n--- stack output (last 4000 characters) ---\n${output.slice(-4000)}`;
    let workerPids: number[] = [];
    const broker = new Broker(config, vhost.logger);
    context.after(async () => {
      // Whatever failed above, nothing of the stack outlives the test.
      if (stack.exitCode === null && stack.signalCode === null) stack.kill('SIGKILL');
      for (const pid of workerPids.filter(isRunning)) process.kill(pid, 'SIGKILL');
      await exited;
      await broker.close().catch(() => undefined);
      await database.close();
      await vhost.cleanup();
    });

    // run-stack names every process it started; each is a child of the stack process.
    const names = (await waitFor(() => /^stack: (.+)$/m.exec(output)?.[1].split(', '), { timeoutMs: 15_000, what: `the stack to start${tail()}` })) ?? [];
    assert.ok(names.length >= 6, `a process per role: ${names.join(', ')}`);
    workerPids =
      (await waitFor(
        () => {
          const pids = workersOf(stack.pid!);
          return pids.length === names.length ? pids : undefined;
        },
        { timeoutMs: 10_000, what: `${names.length} worker processes` },
      )) ?? [];

    await broker.start();
    const documentIds: string[] = [];
    for (const file of await filesIn(path.join(SAMPLES, 'manuals', ACME), '.pdf')) {
      documentIds.push(
        (await submitDocument(broker, config.UPLOAD_DIR, { agentEmail: ACME, filename: path.basename(file), data: await readFile(file) })).document_id,
      );
    }
    assert.equal(documentIds.length, 2, 'the acme manuals');
    await waitFor(async () => everyOf(documentIds, async (id) => (await documents.get(id))?.status === 'ingested'), {
      timeoutMs: 60_000,
      intervalMs: 200,
      what: `the manuals ingested (now ${(await Promise.all(documentIds.map(async (id) => (await documents.get(id))?.status ?? 'unseen'))).join(', ')})${tail()}`,
    });
    for (const id of documentIds) assert.ok(((await documents.get(id))?.chunks ?? 0) > 0, `document ${id} has chunks`);
    context.diagnostic(`manuals ingested after ${elapsed()}`);

    // Every replica of the stack consumes: two classifiers and two responders, one of the rest.
    const consumers =
      (await waitFor(
        async () => {
          const queues = new Map((await vhost.management.queues()).map((queue) => [queue.name, queue.consumers ?? 0]));
          return [QUEUES.toClassify, QUEUES.toRespond, QUEUES.toSend, QUEUES.toIngest].every((queue) => (queues.get(queue) ?? 0) > 0) ? queues : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 500, what: 'a consumer on every work queue' },
      )) ?? new Map<string, number>();
    assert.equal(consumers.get(QUEUES.toClassify), names.filter((name) => name.startsWith('classifier-')).length, 'one consumer per classifier process');
    assert.equal(consumers.get(QUEUES.toRespond), names.filter((name) => name.startsWith('responder-')).length, 'one consumer per responder process');

    const emails = new Map<string, Email>();
    for (const file of await filesIn(path.join(SAMPLES, 'emails', ACME), '.eml')) {
      const raw = await readFile(file);
      const mailboxRef = await deliverToMaildir(config.MAILDIR_ROOT, ACME, raw);
      emails.set(path.basename(file), (await parseEmail(raw, { agentEmail: ACME, mailboxRef })).email);
    }
    assert.equal(emails.size, 11, 'the acme sample emails');
    // The summaries as last read, by sample file name.
    const summaries = new Map<string, EmailSummary | undefined>();
    const readSummaries = async () => {
      for (const [name, email] of emails) summaries.set(name, await activity.getEmail(email.email_id));
      return [...summaries.values()].every((summary) => isFinal(summary?.state ?? ''));
    };
    const stateOf = (name: string) => summaries.get(name);
    try {
      await waitFor(readSummaries, { timeoutMs: 45_000, intervalMs: 200 });
    } catch {
      await readSummaries();
      assert.fail(
        `not every email reached a final state: ${[...emails.keys()].map((name) => `${name}=${stateOf(name)?.state ?? 'unseen'}`).join(', ')}${tail()}`,
      );
    }
    context.diagnostic(`every email final after ${elapsed()}`);

    for (const name of emails.keys()) assert.notEqual(stateOf(name)!.state, 'dead_lettered', `${name}: ${stateOf(name)!.error_message}`);
    const replies = new Map<string, { folder: string; text: string }>();
    for (const folder of ['outbox', 'drafts']) {
      for (const file of await filesIn(path.join(config.MAILDIR_ROOT, ACME, folder), '.eml')) {
        const parsed = await PostalMime.parse(await readFile(file));
        assert.ok(!replies.has(parsed.inReplyTo ?? ''), `one reply per email (${parsed.inReplyTo})`);
        replies.set(parsed.inReplyTo ?? '', { folder, text: parsed.text ?? '' });
      }
    }
    const replyTo = (name: string) => replies.get(emails.get(name)!.message_id_header ?? '');
    // The cancellation question is answered by one page and nothing else: it goes out in auto mode.
    assert.equal(
      stateOf('11-cancel-subscription-html.eml')!.state,
      'sent',
      `11-cancel-subscription-html.eml: ${stateOf('11-cancel-subscription-html.eml')!.outcome}`,
    );
    assert.equal(replyTo('11-cancel-subscription-html.eml')?.folder, 'outbox');
    assert.ok(
      replyTo('11-cancel-subscription-html.eml')!.text.includes('Source: "ACME Billing Guide", page 3'),
      replyTo('11-cancel-subscription-html.eml')!.text,
    );
    // The other answerable questions get a reply citing their manual (by its title); the responder may
    // send it or leave it as a draft (decide.ts), and the folder must match what it decided.
    for (const [name, title] of [
      ['01-router-reset.eml', 'ACME Router X200 User Manual'],
      ['04-refund-request.eml', 'ACME Billing Guide'],
      ['05-invoice-download.eml', 'ACME Billing Guide'],
    ]) {
      const { state, outcome } = stateOf(name)!;
      assert.ok(state === 'sent' || state === 'drafted', `${name}: ${outcome}`);
      assert.equal(replyTo(name)?.folder, state === 'sent' ? 'outbox' : 'drafts', `the reply to ${name} is where its decision puts it (${outcome})`);
      assert.ok(replyTo(name)!.text.includes(`Source: "${title}", page`), `the reply to ${name} cites ${title}: ${replyTo(name)!.text}`);
    }
    assert.equal(stateOf('06-zigbee-question.eml')!.state, 'handed_off', 'nothing in the manuals about Zigbee: handed off');
    assert.equal(replyTo('06-zigbee-question.eml')?.folder, 'drafts');
    assert.equal(stateOf('07-newsletter.eml')!.state, 'skipped');
    assert.equal(stateOf('08-out-of-office.eml')!.state, 'skipped');
    assert.equal(stateOf('09-spam-prize.eml')!.state, 'ignored');
    for (const name of ['07-newsletter.eml', '08-out-of-office.eml', '09-spam-prize.eml']) assert.equal(replyTo(name), undefined, `no reply to ${name}`);
    assert.doesNotMatch(output, /^stack: \S+ exited/m, `no worker process ended while the stack ran${tail()}`);
    await broker.close();

    const stopping = Date.now();
    stack.kill('SIGTERM');
    const timeout = new Promise<'timeout'>((resolve) => setTimeout(resolve, 20_000, 'timeout').unref());
    const result = await Promise.race([exited, timeout]);
    assert.notEqual(result, 'timeout', `the stack did not exit within 20 s of SIGTERM${tail()}`);
    assert.deepEqual(result, { code: 0, signal: null }, `the stack's exit${tail()}`);
    context.diagnostic(`stack stopped ${((Date.now() - stopping) / 1000).toFixed(1)} s after SIGTERM; ${elapsed()} in all`);
    assert.deepEqual(workerPids.filter(isRunning), [], 'every worker process has ended');
  },
);
