import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { eventSchema } from '../../src/pipeline/event-reading.js';
import type { PipelineEvent } from '../../src/pipeline/events.js';
import { openDatabase, SCHEMA_VERSION, type SqlDatabase } from '../../src/store/database.js';
import { ActivityLog, FINAL_STATES, isFinal } from '../../src/store/activity-log.js';
import { DocumentRegistry } from '../../src/store/documents.js';

const AGENT = 'support@acme.test';
const BASE = Date.parse('2024-05-01T10:00:00.000Z');

/** An event of `stage` about `emailId`, stamped `second` seconds after BASE. */
function event(stage: string, emailId: string | null, second: number, extra: Partial<PipelineEvent> = {}): PipelineEvent {
  return eventSchema.parse({
    event_id: randomUUID(),
    timestamp: new Date(BASE + second * 1000).toISOString(),
    stage,
    email_id: emailId,
    agent_email: AGENT,
    role: 'test',
    ...extra,
  });
}

function received(emailId: string, second: number, detail: Record<string, unknown> = {}, agent = AGENT): PipelineEvent {
  return event('received', emailId, second, {
    agent_email: agent,
    detail: { from: 'ann@customer.test', subject: 'Cannot log in', received_at: new Date(BASE + second * 1000).toISOString(), priority: 5, ...detail },
  });
}

function classified(emailId: string, second: number, category = 'account'): PipelineEvent {
  return event('classified', emailId, second, {
    provider: 'local',
    model: 'rules-v1',
    duration_ms: 12,
    detail: { is_support_inquiry: true, category, confidence: 0.9, reasoning: 'asks for help' },
  });
}

async function withTempDirectory(run: (directory: string) => Promise<void>): Promise<void> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
  try {
    await run(directory);
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
}

test('openDatabase creates the parent folder, uses WAL and migrates idempotently', async () => {
  await withTempDirectory(async (directory) => {
    const file = path.join(directory, 'nested', 'deeper', 'ragmail.sqlite');
    const first = await openDatabase(file);
    const pragma = async (database: SqlDatabase, name: string) => Object.values((await database.get<Record<string, unknown>>(`PRAGMA ${name}`)) ?? {})[0];
    assert.equal(await pragma(first, 'journal_mode'), 'wal');
    assert.equal(await pragma(first, 'busy_timeout'), 5000);
    assert.equal(await pragma(first, 'user_version'), SCHEMA_VERSION);
    await new ActivityLog(first).record(received('<a@x>', 0));
    // A second process opening the same file must neither fail nor lose data.
    const second = await openDatabase(file);
    assert.equal(await pragma(second, 'user_version'), SCHEMA_VERSION);
    assert.equal((await new ActivityLog(second).getEmail('<a@x>'))?.state, 'received');
    await first.close();
    await second.close();
  });
});

test('openDatabase refuses a file written by a newer schema', async () => {
  await withTempDirectory(async (directory) => {
    const file = path.join(directory, 'ragmail.sqlite');
    const database = await openDatabase(file);
    await database.run(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    await database.close();
    await assert.rejects(openDatabase(file), /newer than this release/);
  });
});

test('record is idempotent by event_id: a duplicate returns false and changes nothing', async () => {
  const log = new ActivityLog(await openDatabase(':memory:'));
  const first = received('<dup@x>', 0);
  assert.equal(await log.record(first), true);
  assert.equal(await log.record(first), false);
  assert.equal(await log.record({ ...first, stage: 'sent' }), false, 'the same event_id is a duplicate whatever it says');
  assert.equal((await log.timeline('<dup@x>')).length, 1);
  assert.equal((await log.getEmail('<dup@x>'))?.state, 'received');
});

test('a late classified after sent keeps state sent and still fills the classification', async () => {
  const log = new ActivityLog(await openDatabase(':memory:'));
  const id = '<late@x>';
  await log.record(event('sent', id, 40, { provider: 'maildir', detail: { mode: 'auto', message_id: '<reply@acme>' } }));
  await log.record(
    event('replied', id, 30, { detail: { handoff: false, excerpt: 'Reset it here', citations: [{ source: 'faq.pdf', page: 3 }, { source: 'bad' }] } }),
  );
  await log.record(classified(id, 10));
  await log.record(received(id, 0));
  await log.record(event('retrieved', id, 20, { duration_ms: 7, detail: { top_score: 0.82, chunks: [{}, {}, {}] } }));
  const email = await log.getEmail(id);
  assert.ok(email);
  assert.equal(email.state, 'sent');
  assert.equal(email.outcome, 'sent (auto)');
  assert.equal(email.category, 'account');
  assert.equal(email.is_support_inquiry, true);
  assert.equal(email.confidence, 0.9);
  assert.equal(email.from, 'ann@customer.test');
  assert.equal(email.subject, 'Cannot log in');
  assert.equal(email.top_score, 0.82);
  assert.equal(email.chunk_count, 3);
  assert.equal(email.handoff, false);
  assert.equal(email.reply_excerpt, 'Reset it here');
  assert.deepEqual(email.citations, [
    { source: 'faq.pdf', page: 3 },
    { source: 'bad', page: null },
  ]);
  assert.equal(email.sent_message_id, '<reply@acme>');
  assert.deepEqual(email.stages.classified, { timestamp: new Date(BASE + 10_000).toISOString(), provider: 'local', model: 'rules-v1', duration_ms: 12 });
  assert.equal(email.stages.retrieved.duration_ms, 7);
  assert.deepEqual(
    (await log.timeline(id)).map((item) => item.stage),
    ['received', 'classified', 'retrieved', 'replied', 'sent'],
  );
});

test('final states: sent outranks drafted and a late dead-letter; a replay may end a dead-lettered email', async () => {
  const log = new ActivityLog(await openDatabase(':memory:'));
  await log.record(event('drafted', '<review@x>', 10, { detail: { mode: 'review', message_id: '<d@acme>' } }));
  await log.record(event('sent', '<review@x>', 20, { detail: { mode: 'review', message_id: '<s@acme>' } }));
  await log.record(event('drafted', '<review@x>', 30, { detail: { mode: 'review', message_id: '<d2@acme>' } }));
  assert.equal((await log.getEmail('<review@x>'))?.state, 'sent');

  await log.record(event('dead_lettered', '<replay@x>', 10, { detail: { error_message: 'boom', error_type: 'Error', queue: 'emails.to_respond' } }));
  await log.record(received('<replay@x>', 20));
  let email = await log.getEmail('<replay@x>');
  assert.equal(email?.state, 'dead_lettered', 'an intermediate stage does not undo a final state');
  assert.equal(email?.outcome, 'dead-lettered from emails.to_respond: Error');
  assert.equal(email?.error_message, 'boom');
  await log.record(event('handed_off', '<replay@x>', 30, { detail: { mode: 'auto', message_id: '<h@acme>' } }));
  email = await log.getEmail('<replay@x>');
  assert.equal(email?.state, 'handed_off');
  assert.equal(email?.outcome, 'handed_off (auto)');
});

test('a redelivered stage keeps the newer run whatever the arrival order', async () => {
  const log = new ActivityLog(await openDatabase(':memory:'));
  await log.record(classified('<twice@x>', 20, 'billing'));
  await log.record(classified('<twice@x>', 10, 'account'));
  assert.equal((await log.getEmail('<twice@x>'))?.category, 'billing');
  assert.equal((await log.getEmail('<twice@x>'))?.stages.classified.timestamp, new Date(BASE + 20_000).toISOString());
});

test('events without an email id or with an unknown stage are kept but touch no summary', async () => {
  const log = new ActivityLog(await openDatabase(':memory:'));
  assert.equal(await log.record(event('ingested', null, 0, { document_id: 'doc-1', detail: { chunks: 4 } })), true);
  assert.equal(await log.record(event('retrying', '<odd@x>', 0)), true);
  assert.equal(await log.getEmail('<odd@x>'), undefined);
  assert.deepEqual(
    (await log.timeline('<odd@x>')).map((item) => item.stage),
    ['retrying'],
  );
  assert.deepEqual(await log.countByState(), {});
});

test('listEmails filters by mailbox, state, category and search, and pages', async () => {
  const log = new ActivityLog(await openDatabase(':memory:'));
  const other = 'sales@acme.test';
  await log.record(received('<1@x>', 1, { subject: 'Refund of 50% please' }));
  await log.record(classified('<1@x>', 2, 'billing'));
  await log.record(received('<2@x>', 3, { subject: 'Password reset', from: 'Bob <bob@customer.test>' }));
  await log.record(classified('<2@x>', 4, 'account'));
  await log.record(event('sent', '<2@x>', 5, { detail: { mode: 'auto', message_id: '<r2@acme>' } }));
  await log.record(received('<3@x>', 6, { subject: 'Newsletter' }, other));
  await log.record(
    event('ignored', '<3@x>', 7, { agent_email: other, detail: { is_support_inquiry: false, category: 'spam', confidence: 0.99, reasoning: 'marketing' } }),
  );

  const ids = async (filter: Parameters<ActivityLog['listEmails']>[0]): Promise<string[]> => (await log.listEmails(filter)).map((email) => email.email_id);
  assert.deepEqual(await ids({}), ['<3@x>', '<2@x>', '<1@x>'], 'newest received first');
  assert.deepEqual(await ids({ agentEmail: AGENT }), ['<2@x>', '<1@x>']);
  assert.deepEqual(await ids({ state: 'sent' }), ['<2@x>']);
  assert.deepEqual(await ids({ category: 'billing' }), ['<1@x>']);
  assert.deepEqual(await ids({ search: 'PASSWORD' }), ['<2@x>'], 'search ignores case');
  assert.deepEqual(await ids({ search: 'bob@customer' }), ['<2@x>'], 'search covers the sender');
  assert.deepEqual(await ids({ search: '50%' }), ['<1@x>']);
  assert.deepEqual(await ids({ search: '%' }), ['<1@x>'], 'a % is text, not a wildcard');
  assert.deepEqual(await ids({ agentEmail: other, state: 'sent' }), []);
  assert.deepEqual(await ids({ limit: 1, offset: 1 }), ['<2@x>']);
  assert.equal(await log.countEmails({ agentEmail: AGENT }), 2);
  assert.equal((await log.getEmail('<3@x>'))?.outcome, 'ignored: spam');
  assert.deepEqual(await log.countByState(), { classified: 1, sent: 1, ignored: 1 });
  assert.deepEqual(await log.countByState(other), { ignored: 1 });
});

test('isFinal and FINAL_STATES agree on the terminal states', async () => {
  assert.deepEqual([...FINAL_STATES].sort(), ['dead_lettered', 'drafted', 'handed_off', 'ignored', 'rejected', 'sent', 'shadowed', 'skipped']);
  for (const state of FINAL_STATES) assert.equal(isFinal(state), true);
  for (const state of ['received', 'classified', 'retrieved', 'replied', 'unknown']) assert.equal(isFinal(state), false);
});

test('document registry follows an upload from queued to ingested or failed', async () => {
  const registry = new DocumentRegistry(await openDatabase(':memory:'));
  const registration = { document_id: 'doc-1', agent_email: AGENT, filename: 'faq.pdf', path: '/uploads/doc-1.pdf' };
  assert.equal((await registry.register(registration)).status, 'queued');
  assert.equal(await registry.markProcessing('doc-1', 10), true);
  assert.equal(await registry.progress('doc-1', 4), true);
  assert.deepEqual([(await registry.get('doc-1'))?.status, (await registry.get('doc-1'))?.pages_done], ['processing', 4]);
  assert.equal(await registry.markIngested('doc-1', { chunks: 37, pages: 10 }), true);
  const ingested = await registry.get('doc-1');
  assert.equal(ingested?.status, 'ingested');
  assert.equal(ingested?.chunks, 37);
  assert.equal(ingested?.pages_done, 10);

  await registry.register({ ...registration, document_id: 'doc-2', agent_email: 'sales@acme.test' });
  assert.equal(await registry.markFailed('doc-2', 'not a PDF'), true);
  assert.equal((await registry.get('doc-2'))?.error, 'not a PDF');
  assert.deepEqual(
    (await registry.list(AGENT)).map((record) => record.document_id),
    ['doc-1'],
  );
  assert.equal((await registry.list()).length, 2);

  const again = await registry.register(registration);
  assert.deepEqual([again.status, again.chunks, again.pages_done], ['queued', null, 0], 're-upload resets progress');
  assert.equal(await registry.remove('doc-1'), true);
  assert.equal(await registry.remove('doc-1'), false);
  assert.equal(await registry.progress('doc-1', 1), false, 'updates of an unknown document report false');
  assert.equal(await registry.get('doc-1'), undefined);
});
