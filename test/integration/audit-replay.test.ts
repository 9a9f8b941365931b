/**
 * Replay from the audit stream on the real RabbitMQ: emails go through the whole pipeline in three
 * batches; the middle batch's time window is replayed through classify in shadow mode. Its emails
 * are classified again, nothing is sent or drafted, and the batches before and after are left alone.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from '../helpers/broker.js';
import {
  ACME,
  GLOBEX,
  SAMPLES,
  deliverEmail,
  filesIn,
  startPipeline,
  submitAndWait,
  waitForFinalStates,
  waitForSettled,
  type Pipeline,
} from '../helpers/pipeline.js';
import { PROJECT_ROOT } from '../helpers/worker-process.js';
import { replayFromAudit } from '../../src/messaging/audit-replay.js';
import { everyOf, filterOf } from '../helpers/async-lists.js';

const run = promisify(execFile);

/** Delivers sample emails and waits until each reached a final state; returns their email ids. */
async function runBatch(pipeline: Pipeline, samples: Array<[mailbox: string, file: string]>): Promise<string[]> {
  const ids: string[] = [];
  for (const [mailbox, file] of samples) {
    const delivered = await deliverEmail(pipeline, mailbox, await readFile(path.join(SAMPLES, 'emails', mailbox, file)), file);
    ids.push(delivered.email.email_id);
  }
  await waitForFinalStates(pipeline, ids);
  return ids;
}

/** Classification outcomes (classified or ignored) of an email recorded in the activity log. */
const classifications = async (pipeline: Pipeline, emailId: string) =>
  (await pipeline.activity.timeline(emailId)).filter((event) => event.stage === 'classified' || event.stage === 'ignored');

/** Every reply and draft file of both mailboxes. */
async function replyFiles(pipeline: Pipeline): Promise<string[]> {
  const root = pipeline.vhost.config.MAILDIR_ROOT;
  const folders = [ACME, GLOBEX].flatMap((mailbox) => ['outbox', 'drafts'].map((folder) => path.join(root, mailbox, folder)));
  return (await Promise.all(folders.map((folder) => filesIn(folder, '.eml')))).flat().sort();
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('a shadow replay of a time window re-classifies its emails only, and sends and drafts nothing', { timeout: 240_000 }, async () => {
  const pipeline = await startPipeline(['poller', 'classifier', 'responder', 'sender', 'ingester', 'recorder'], { SEND_POLICY: 'auto' });
  try {
    // The thermostat manual answers the battery question on one page: its reply is sent, so the
    // window holds an email the replay would send again if it were not shadowed.
    for (const [agentEmail, filename] of [
      [ACME, 'acme-router-x200-manual.pdf'],
      [GLOBEX, 'globex-thermostat-t9-manual.pdf'],
    ]) {
      await submitAndWait(pipeline, { agentEmail, filename, data: await readFile(path.join(SAMPLES, 'manuals', agentEmail, filename)) });
    }
    const before = await runBatch(pipeline, [[ACME, '01-router-reset.eml']]);
    await pause(1_100);
    const since = new Date();
    const inWindow = await runBatch(pipeline, [
      [ACME, '03-urgent-internet-down.eml'],
      [ACME, '09-spam-prize.eml'],
      [GLOBEX, 'battery.eml'],
    ]);
    const until = new Date();
    await pause(1_100);
    const after = await runBatch(pipeline, [[ACME, '02-firmware-update.eml']]);

    const original = new Map<string, string>();
    for (const id of [...before, ...inWindow, ...after]) original.set(id, (await pipeline.activity.getEmail(id))!.state);
    assert.equal(original.get(inWindow[2]), 'sent', `the battery reply (last of the window) went to an outbox in the first run: ${[...original.values()]}`);
    const reachingSender = inWindow.filter((id) => !['ignored', 'skipped'].includes(original.get(id)!));
    assert.ok(reachingSender.length >= 1 && reachingSender.length < inWindow.length, 'the window holds support mail and mail that is not');
    const filesBefore = await replyFiles(pipeline);
    const classifiedBefore = pipeline.settled.get('classifier')!.length;
    const sentBefore = pipeline.settled.get('sender')!.length;

    // The command, in a dry run for one mailbox: it lists the window's emails of that mailbox and publishes nothing.
    const cli = await run(
      path.join(PROJECT_ROOT, 'node_modules/.bin/tsx'),
      ['src/cli/index.ts', 'replay', '--stage', 'classify', '--since', since.toISOString(), '--until', until.toISOString(), '--mailbox', ACME, '--dry-run'],
      { cwd: PROJECT_ROOT, env: { ...process.env, AMQP_URL: pipeline.vhost.config.AMQP_URL, LOG_LEVEL: 'error' } },
    );
    const listed = [...cli.stdout.matchAll(/^would replay (\S+) \(/gm)].map((match) => match[1]).sort();
    assert.deepEqual(listed, (await filterOf(inWindow, async (id) => (await pipeline.activity.getEmail(id))!.agent_email === ACME)).sort());
    assert.match(cli.stdout, /would replay 2 email\(s\) through classify \(live/);

    // Through respond, a dry run: the support emails with their original classification; the others are skipped.
    const respond = await replayFromAudit(pipeline.worker.broker, { stage: 'respond', since, until, shadow: true, dryRun: true });
    assert.deepEqual(respond.replayed.map((email) => email.email_id).sort(), [...reachingSender].sort());
    assert.deepEqual(
      respond.skipped.map(({ reason }) => reason),
      inWindow.filter((id) => !reachingSender.includes(id)).map(() => 'classified as not a support inquiry'),
    );

    const report = await replayFromAudit(pipeline.worker.broker, { stage: 'classify', since, until, shadow: true });
    assert.deepEqual(report.replayed.map((email) => email.email_id).sort(), [...inWindow].sort(), 'exactly the emails received in the window');
    assert.deepEqual(report.skipped, []);

    await waitForSettled(pipeline, 'classifier', classifiedBefore + inWindow.length);
    const senderSettled = await waitForSettled(pipeline, 'sender', sentBefore + reachingSender.length);
    assert.deepEqual(
      senderSettled.slice(sentBefore).map((info) => info.status),
      reachingSender.map(() => 'shadowed'),
      'the sender shadowed the replayed replies',
    );
    await waitFor(() => everyOf(inWindow, async (id) => (await classifications(pipeline, id)).length === 2), { what: "the replay's classifications recorded" });
    // The replay's own event and the new classification travel as separate events: the recorder may store them in either order.
    await waitFor(async () => everyOf(inWindow, async (id) => (await pipeline.activity.timeline(id)).some((event) => event.stage === 'replayed')), {
      what: 'the replay is recorded',
    });
    for (const id of inWindow) {
      const replayed = (await classifications(pipeline, id))[1]!;
      assert.deepEqual(replayed.detail.replay, { replay_id: report.replay_id, shadow: true }, "the new classification is marked as the replay's");
    }
    for (const id of reachingSender) {
      await waitFor(async () => (await pipeline.activity.timeline(id)).some((event) => event.stage === 'shadowed' && event.detail.replay !== undefined), {
        what: 'shadowed events',
      });
    }

    await pause(1_000);
    assert.deepEqual(await replyFiles(pipeline), filesBefore, 'no new reply or draft');
    for (const id of [...before, ...after]) {
      assert.equal((await classifications(pipeline, id)).length, 1, `${id} is outside the window: not replayed`);
    }
    assert.equal(pipeline.settled.get('classifier')!.length, classifiedBefore + inWindow.length, 'nothing else was classified');
    for (const id of [...before, ...after]) assert.equal((await pipeline.activity.getEmail(id))!.state, original.get(id));
  } finally {
    await pipeline.close();
  }
});
