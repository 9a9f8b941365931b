/**
 * The worker metrics without a broker: every metric fed once (the real local model, the SQLite
 * vector store, the send ledger, a management API served on loopback), then its names checked
 * against Prometheus conventions and by `promtool check metrics`; and the `/metrics`, `/healthz`,
 * `/readyz` server.
 */
import { EventEmitter } from 'node:events';
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ManagementClient } from '../../src/messaging/management.js';
import { CONSUMER_CANCELLED } from '../../src/messaging/broker.js';
import { buildEvent } from '../../src/messaging/events.js';
import { createLocalModel } from '../../src/providers/llm/local.js';
import { createSqliteVectorStore } from '../../src/providers/vector-store/sqlite.js';
import { openDatabase } from '../../src/store/database.js';
import { SendLedger } from '../../src/store/send-ledger.js';
import { createLogger } from '../../src/lib/log.js';
import {
  createWorkerMetrics,
  instrumentLanguageModel,
  instrumentVectorStore,
  registerQueueGauges,
  registerQuotaGauge,
  type WorkerMetrics,
} from '../../src/observability/metrics.js';
import { brokerReadiness, checkReadiness } from '../../src/observability/health.js';
import { startHttpServer } from '../../src/observability/server.js';
import { promtoolCheck, sampleValue } from '../helpers/prometheus.js';

const logger = createLogger({ level: 'error', format: 'json', role: 'test' });

/** A temp folder removed when the test ends. */
function tempDir(context: TestContext): string {
  const folder = mkdtempSync(path.join(tmpdir(), 'ragmail-'));
  context.after(() => rmSync(folder, { recursive: true, force: true }));
  return folder;
}

/** A loopback management API: `answer` writes each `GET /api/queues/<vhost>` response. */
async function managementServer(context: TestContext, answer: (response: ServerResponse) => void): Promise<{ requests: string[]; client: ManagementClient }> {
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(request.url ?? '');
    answer(response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  context.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const { port } = server.address() as AddressInfo;
  return {
    requests,
    client: new ManagementClient({ RABBITMQ_MANAGEMENT_URL: `http://monitor:secret@127.0.0.1:${port}`, AMQP_URL: 'amqp://127.0.0.1/ragmail-test' }),
  };
}

const QUEUES_ANSWER = [
  { name: 'emails.to_classify', durable: true, arguments: {}, messages: 7, consumers: 2 },
  { name: 'dead_letter_queue', durable: true, arguments: {}, messages: 1, consumers: 0 },
  { name: 'emails.to_send', durable: true, arguments: {} },
];

/** Feeds every ragmail metric once, through the real code paths. */
async function feedEverything(context: TestContext, metrics: WorkerMetrics): Promise<void> {
  metrics.observeSettled({ role: 'classifier', queue: 'emails.to_classify', outcome: 'processed', status: 'classified', durationMs: 42 });
  metrics.observeEvent(buildEvent('sender', { stage: 'sent', agent_email: 'support@acme.example', duration_ms: 12, provider: 'maildir' }));
  const broker = new EventEmitter();
  metrics.observeBroker(broker);
  broker.emit(CONSUMER_CANCELLED, { queue: 'emails.to_classify' });
  const model = instrumentLanguageModel(createLocalModel(), metrics);
  await model.classify({ from: 'ana@example.com', subject: 'Router reset', body: 'How do I reset my router? It will not connect.' });
  const store = instrumentVectorStore(createSqliteVectorStore({ path: path.join(tempDir(context), 'vectors.db') }), metrics);
  context.after(() => store.close());
  await store.query('support@acme.example', 'reset router', 3);
  const database = await openDatabase(path.join(tempDir(context), 'ragmail.db'));
  context.after(() => database.close());
  registerQuotaGauge(metrics, { ledger: new SendLedger(database), limit: 250, mailboxes: () => metrics.mailboxesSeen });
  const { client } = await managementServer(context, (response) => response.end(JSON.stringify(QUEUES_ANSWER)));
  registerQueueGauges(metrics, { queues: () => client.queues() });
}

test('every ragmail metric follows the Prometheus naming conventions', async (context) => {
  const metrics = createWorkerMetrics();
  await feedEverything(context, metrics);
  const families = await metrics.registry.getMetricsAsJSON();
  const names = families.map((family) => family.name);
  for (const expected of [
    'ragmail_messages_total',
    'ragmail_message_status_total',
    'ragmail_message_duration_seconds',
    'ragmail_stage_duration_seconds',
    'ragmail_consumer_cancellations_total',
    'ragmail_llm_request_duration_seconds',
    'ragmail_llm_tokens_total',
    'ragmail_retrieval_duration_seconds',
    'ragmail_retrieval_top_score',
    'ragmail_queue_messages',
    'ragmail_queue_consumers',
    'ragmail_management_up',
    'ragmail_send_quota_remaining',
    'ragmail_process_cpu_user_seconds_total',
    'ragmail_nodejs_eventloop_lag_seconds',
  ])
    assert.ok(names.includes(expected), `${expected} is registered`);
  for (const family of families) {
    assert.match(family.name, /^ragmail_[a-z][a-z0-9]*(_[a-z0-9]+)*$/, `${family.name}: ragmail_ prefix, snake_case`);
    assert.ok(family.help.trim().length > 0, `${family.name} has help text`);
    assert.equal(String(family.type) === 'counter', family.name.endsWith('_total'), `${family.name} (${family.type}): _total exactly on counters`);
    if (/duration|latency|lag/.test(family.name)) assert.match(family.name, /_seconds(_total)?$/, `${family.name}: durations in seconds`);
    assert.doesNotMatch(family.name, /_(ms|milliseconds|millis)(_|$)/, `${family.name}: base units`);
    for (const value of family.values) {
      for (const label of Object.keys(value.labels)) assert.match(label, /^[a-z][a-z0-9_]*$/, `${family.name} label ${label} is snake_case`);
    }
  }
});

test('the exposition of every metric, each with a sample, passes promtool check metrics', async (context) => {
  const metrics = createWorkerMetrics();
  await feedEverything(context, metrics);
  const exposition = await metrics.metrics();
  assert.match(exposition, /^ragmail_send_quota_remaining\{agent_email="support@acme.example"\} 250$/m);
  assert.match(exposition, /^ragmail_llm_tokens_total\{provider="local",model="local-v2",direction="input"\} [1-9]/m);
  const verdict = promtoolCheck(context, exposition);
  if (!verdict) return;
  assert.equal(verdict.status, 0, `promtool check metrics found:\n${verdict.findings}`);
  assert.equal(verdict.findings, '');
});

test('instrumentLanguageModel counts latency and tokens under the answering provider, and failures', async () => {
  const metrics = createWorkerMetrics();
  const model = instrumentLanguageModel(createLocalModel({ name: 'rules-test' }), metrics);
  assert.equal(model.provider, 'local');
  const result = await model.reply({
    email: { from: 'ana@example.com', subject: 'Reset', body: 'How do I reset the router?' },
    passages: [{ document_id: 'doc-1', source: 'manual.pdf', page: 3, chunk_index: 0, similarity_score: 0.8, text: 'Hold the reset button for 10 seconds.' }],
  });
  assert.ok(result.value.body.length > 0);
  await assert.rejects(model.classify({ from: 'a@example.com', subject: 'x', body: 'y' }, { signal: AbortSignal.abort() }));
  const text = await metrics.metrics();
  const labels = { provider: 'local', model: 'rules-test' };
  assert.equal(sampleValue(text, 'ragmail_llm_tokens_total', { ...labels, direction: 'input' }), result.usage.input_tokens);
  assert.equal(sampleValue(text, 'ragmail_llm_tokens_total', { ...labels, direction: 'output' }), result.usage.output_tokens);
  assert.equal(sampleValue(text, 'ragmail_llm_request_duration_seconds_count', { ...labels, operation: 'reply' }), 1);
  const seconds = sampleValue(text, 'ragmail_llm_request_duration_seconds_sum', { ...labels, operation: 'reply' });
  assert.ok(seconds !== undefined && Math.abs(seconds - result.latency_ms / 1000) < 1e-9, `latency ${seconds} s is the result's ${result.latency_ms} ms`);
  assert.equal(
    sampleValue(text, 'ragmail_llm_request_duration_seconds_count', { ...labels, operation: 'classify' }),
    undefined,
    'a failed call has no latency sample',
  );
  assert.equal(sampleValue(text, 'ragmail_llm_errors_total', { ...labels, operation: 'classify' }), 1);
});

test('instrumentVectorStore records the latency and best score of each query, 0 when nothing matched', async (context) => {
  const metrics = createWorkerMetrics();
  const store = instrumentVectorStore(createSqliteVectorStore({ path: path.join(tempDir(context), 'vectors.db') }), metrics);
  context.after(() => store.close());
  await store.upsert('support@acme.example', [
    { document_id: 'doc-1', document_name: 'manual.pdf', page: 3, chunk_index: 0, text: 'To reset the router, hold the reset button for ten seconds.' },
    { document_id: 'doc-1', document_name: 'manual.pdf', page: 4, chunk_index: 1, text: 'The warranty covers two years from the date of purchase.' },
  ]);
  const found = await store.query('support@acme.example', 'how do I reset the router', 2);
  assert.ok(found.length > 0 && found[0].score > 0);
  assert.deepEqual(await store.query('support@globex.example', 'how do I reset the router', 2), []);
  const text = await metrics.metrics();
  const labels = { provider: store.provider };
  assert.equal(sampleValue(text, 'ragmail_retrieval_duration_seconds_count', labels), 2);
  assert.equal(sampleValue(text, 'ragmail_retrieval_top_score_count', labels), 2);
  assert.ok(Math.abs((sampleValue(text, 'ragmail_retrieval_top_score_sum', labels) ?? -1) - found[0].score) < 1e-9, 'the sum is the one best score plus 0');
  assert.equal(sampleValue(text, 'ragmail_retrieval_top_score_bucket', { ...labels, le: '0.1' }), 1, 'the empty query counts as score 0');
});

test('the send-quota gauge reads the ledger at each scrape for the mailboxes the sender reported on', async (context) => {
  const metrics = createWorkerMetrics();
  const database = await openDatabase(path.join(tempDir(context), 'ragmail.db'));
  context.after(() => database.close());
  const ledger = new SendLedger(database);
  registerQuotaGauge(metrics, { ledger, limit: 10, mailboxes: () => metrics.mailboxesSeen });
  assert.equal(sampleValue(await metrics.metrics(), 'ragmail_send_quota_remaining'), undefined, 'no mailbox seen yet');
  for (let sent = 0; sent < 3; sent++) await ledger.tryConsumeQuota('support@acme.example', 10);
  metrics.observeEvent(buildEvent('sender', { stage: 'sent', agent_email: 'support@acme.example' }));
  metrics.observeEvent(buildEvent('sender', { stage: 'drafted', agent_email: 'help@globex.example' }));
  metrics.observeEvent(buildEvent('classifier', { stage: 'classified', agent_email: 'other@initech.example' }));
  let text = await metrics.metrics();
  assert.equal(sampleValue(text, 'ragmail_send_quota_remaining', { agent_email: 'support@acme.example' }), 7);
  assert.equal(sampleValue(text, 'ragmail_send_quota_remaining', { agent_email: 'help@globex.example' }), 10);
  assert.equal(sampleValue(text, 'ragmail_send_quota_remaining', { agent_email: 'other@initech.example' }), undefined, 'only mailboxes the sender served');
  await ledger.tryConsumeQuota('support@acme.example', 10);
  text = await metrics.metrics();
  assert.equal(sampleValue(text, 'ragmail_send_quota_remaining', { agent_email: 'support@acme.example' }), 6, 'read again at the next scrape');
});

test('queue gauges come from the management API, one lookup per cache period', async (context) => {
  const metrics = createWorkerMetrics();
  const { requests, client } = await managementServer(context, (response) => response.end(JSON.stringify(QUEUES_ANSWER)));
  registerQueueGauges(metrics, { queues: () => client.queues(), cacheMs: 60_000 });
  const text = await metrics.metrics();
  assert.equal(sampleValue(text, 'ragmail_queue_messages', { queue: 'emails.to_classify' }), 7);
  assert.equal(sampleValue(text, 'ragmail_queue_consumers', { queue: 'emails.to_classify' }), 2);
  assert.equal(sampleValue(text, 'ragmail_queue_messages', { queue: 'dead_letter_queue' }), 1);
  assert.equal(sampleValue(text, 'ragmail_queue_messages', { queue: 'emails.to_send' }), undefined, 'no statistics yet: no sample');
  assert.equal(sampleValue(text, 'ragmail_management_up'), 1);
  await metrics.metrics();
  assert.deepEqual(requests, ['/api/queues/ragmail-test'], 'both gauges and the second scrape share one lookup');
});

test('a scrape does not hang when the management API does not answer: queue gauges absent, management_up 0', async (context) => {
  const metrics = createWorkerMetrics();
  const { requests, client } = await managementServer(context, () => undefined);
  registerQueueGauges(metrics, { queues: () => client.queues(), timeoutMs: 300, cacheMs: 0 });
  const started = Date.now();
  const text = await metrics.metrics();
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 250 && elapsed < 2_000, `the scrape took ${elapsed} ms, about the 300 ms timeout`);
  assert.equal(requests.length, 1);
  assert.equal(sampleValue(text, 'ragmail_management_up'), 0);
  assert.doesNotMatch(text, /^ragmail_queue_(messages|consumers)\{/m);
});

test('a refused management API also reads as management_up 0', async () => {
  const metrics = createWorkerMetrics();
  const client = new ManagementClient({ RABBITMQ_MANAGEMENT_URL: 'http://guest:guest@127.0.0.1:1', AMQP_URL: 'amqp://127.0.0.1/x' });
  registerQueueGauges(metrics, { queues: () => client.queues() });
  assert.equal(sampleValue(await metrics.metrics(), 'ragmail_management_up'), 0);
});

test('the HTTP server serves /metrics, /healthz and /readyz, and refuses anything else', async (context) => {
  const metrics = createWorkerMetrics();
  metrics.observeSettled({ role: 'sender', queue: 'emails.to_send', outcome: 'retried', status: 'send_claim_held', durationMs: 5 });
  const broker = { ready: false };
  const server = await startHttpServer({
    host: '127.0.0.1',
    port: 0,
    registry: metrics.registry,
    logger,
    readiness: () => checkReadiness({ broker: brokerReadiness(broker), roles: () => undefined }),
  });
  context.after(() => server.close());
  assert.ok(server.port > 0);
  assert.equal(server.url, `http://127.0.0.1:${server.port}`);

  const scrape = await fetch(`${server.url}/metrics`);
  assert.equal(scrape.status, 200);
  assert.match(scrape.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  assert.equal(sampleValue(await scrape.text(), 'ragmail_messages_total', { role: 'sender', queue: 'emails.to_send', outcome: 'retried' }), 1);

  const health = await fetch(`${server.url}/healthz`);
  assert.equal(health.status, 200);
  assert.deepEqual(await health.json(), { status: 'ok' });

  const notReady = await fetch(`${server.url}/readyz`);
  assert.equal(notReady.status, 503);
  const report = (await notReady.json()) as { status: string; reasons: string[]; checks: Record<string, string> };
  assert.equal(report.status, 'not_ready');
  assert.equal(report.checks.roles, 'ok');
  assert.deepEqual(
    report.reasons.map((reason) => reason.split(':')[0]),
    ['broker'],
  );

  broker.ready = true;
  const ready = await fetch(`${server.url}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual(await ready.json(), { status: 'ready', checks: { broker: 'ok', roles: 'ok' }, reasons: [] });

  assert.equal((await fetch(`${server.url}/nothing`)).status, 404);
  const post = await fetch(`${server.url}/metrics`, { method: 'POST' });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get('allow'), 'GET, HEAD');
});

test('a readiness check that throws reads as not ready with its message', async () => {
  const report = await checkReadiness({
    providers: () => {
      throw new Error('no key');
    },
    broker: async () => undefined,
  });
  assert.equal(report.status, 'not_ready');
  assert.deepEqual(report.reasons, ['providers: check failed: no key']);
});

test('a taken port is refused when the server starts, and close frees it', async () => {
  const metrics = createWorkerMetrics();
  const options = { host: '127.0.0.1', port: 0, registry: metrics.registry, logger, readiness: () => checkReadiness({}) };
  const first = await startHttpServer(options);
  await assert.rejects(startHttpServer({ ...options, port: first.port }), /EADDRINUSE/);
  await first.close();
  const again = await startHttpServer({ ...options, port: first.port });
  await again.close();
});
