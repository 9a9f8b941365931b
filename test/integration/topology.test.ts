/**
 * The broker topology of docs/ARCHITECTURE.md#topology on the real RabbitMQ: what `broker.start()` declares (read
 * back through the management API), the `topology` command and the dead-letter retention it sets,
 * a mismatching pre-existing queue, a vhost of the topology before retry exchanges, a vhost whose
 * emails.to_send is still bound to email_exchange (the binding goes), and the two
 * broker-side behaviours the arguments exist for: priorities and TTL dead-lettering.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import amqplib, { type Channel, type GetMessage } from 'amqplib';
import { createTestVhost, waitFor, type TestVhost } from '../helpers/broker.js';
import { PROJECT_ROOT, workerEnvironment } from '../helpers/worker-process.js';
import { Broker, TopologyMismatchError } from '../../src/messaging/broker.js';
import { QUEUES, SPECIFIED_QUEUES, WORK_QUEUES, retryExchangeName, waitQueueName, waitQueues as buildWaitQueues } from '../../src/messaging/topology.js';
import { DEAD_LETTER_RETENTION_POLICY } from '../../src/messaging/dead-letter-retention.js';

const DEAD_LETTER = { 'x-dead-letter-exchange': 'dead_letter_exchange' };
/** docs/ARCHITECTURE.md#topology written out again by hand, so a wrong table in topology.ts fails here. */
const SPECIFIED_ARGUMENTS: Record<string, Record<string, unknown>> = {
  'emails.to_classify': { 'x-max-priority': 10, 'x-message-ttl': 3_600_000, ...DEAD_LETTER, 'x-dead-letter-routing-key': 'failed_emails' },
  'emails.to_respond': { 'x-message-ttl': 7_200_000, ...DEAD_LETTER, 'x-dead-letter-routing-key': 'failed_emails' },
  'emails.to_send': { 'x-message-ttl': 3_600_000, ...DEAD_LETTER, 'x-dead-letter-routing-key': 'failed_emails' },
  'documents.to_ingest': { 'x-message-ttl': 1_800_000, ...DEAD_LETTER, 'x-dead-letter-routing-key': 'failed_documents' },
  dead_letter_queue: {},
};

/** The next message of `queue` (taken, no ack needed), waiting for it to arrive. */
async function nextMessage(channel: Channel, queue: string, timeoutMs: number, what: string): Promise<GetMessage> {
  const message = await waitFor(() => channel.get(queue, { noAck: true }), { timeoutMs, what });
  if (!message) throw new Error(`no ${what}`);
  return message;
}

/** Runs a vhost-scoped test body and always deletes the vhost. */
async function withVhost(overrides: Record<string, string>, body: (vhost: TestVhost) => Promise<void>): Promise<void> {
  const vhost = await createTestVhost(overrides);
  try {
    await body(vhost);
  } finally {
    await vhost.cleanup();
  }
}

/** Runs `tsx src/cli/index.ts topology` (what `npm run topology` runs) against the vhost. */
function runTopologyCommand(vhost: TestVhost): Promise<{ code: number | null; stdout: string; stderr: string; elapsedMs: number }> {
  const started = Date.now();
  const child = spawn(path.join(PROJECT_ROOT, 'node_modules/.bin/tsx'), [path.join(PROJECT_ROOT, 'src/cli/index.ts'), 'topology'], {
    cwd: vhost.dataDir, // no .env of the developer's in the way
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...workerEnvironment(vhost.config), LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString('utf8');
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, elapsedMs: Date.now() - started });
    });
  });
}

test(
  'broker.start() declares the exchanges, queues (exact arguments), bindings, wait queues with their retry exchanges and audit stream of docs/ARCHITECTURE.md#topology',
  { timeout: 60_000 },
  async () => {
    await withVhost({}, async (vhost) => {
      const broker = new Broker(vhost.config, vhost.logger);
      try {
        await broker.start();
      } finally {
        await broker.close();
      }
      const { management } = vhost;
      const waitQueues = ['emails.to_classify', 'emails.to_respond', 'emails.to_send', 'documents.to_ingest'].flatMap((queue) => [
        { name: waitQueueName(queue, 200), ttl: 200, target: queue },
        { name: waitQueueName(queue, 400), ttl: 400, target: queue },
      ]);
      const expectedQueueCount = Object.keys(SPECIFIED_ARGUMENTS).length + waitQueues.length + 1;
      await waitFor(async () => (await management.queues()).length >= expectedQueueCount, {
        timeoutMs: 20_000,
        what: 'the declared queues in the management API',
      });
      const queues = await management.queues();
      const byName = new Map(queues.map((queue) => [queue.name, queue]));
      assert.equal(queues.length, expectedQueueCount, `queues: ${[...byName.keys()].join(', ')}`);

      for (const [name, expected] of Object.entries(SPECIFIED_ARGUMENTS)) {
        const queue = byName.get(name);
        assert.ok(queue, `queue ${name} exists`);
        assert.equal(queue.durable, true, `${name} is durable`);
        assert.deepEqual(queue.arguments, expected, `${name} has exactly the arguments of docs/ARCHITECTURE.md#topology`);
      }
      for (const wait of waitQueues) {
        assert.deepEqual(
          byName.get(wait.name)?.arguments,
          { 'x-message-ttl': wait.ttl, 'x-dead-letter-exchange': '', 'x-dead-letter-routing-key': wait.target },
          `${wait.name} dead-letters back to ${wait.target}`,
        );
      }
      const audit = byName.get(QUEUES.audit);
      assert.equal(audit?.type, 'stream');
      assert.deepEqual(audit?.arguments, { 'x-queue-type': 'stream', 'x-max-age': '7D' });

      const exchanges = new Map((await management.exchanges()).map((exchange) => [exchange.name, exchange]));
      for (const name of [
        'email_exchange',
        'reply_exchange',
        'document_exchange',
        'dead_letter_exchange',
        ...WORK_QUEUES.map((queue) => `${queue.name}.retry`),
      ]) {
        assert.equal(exchanges.get(name)?.type, 'direct', `${name} is direct`);
        assert.equal(exchanges.get(name)?.durable, true, `${name} is durable`);
      }
      assert.equal(exchanges.get('events')?.type, 'topic');
      assert.equal(exchanges.get('events')?.durable, true);

      const bindings = (await management.bindings())
        .filter((binding) => binding.source !== '')
        .map((binding) => `${binding.source} --${binding.routing_key}--> ${binding.destination}`)
        .sort();
      assert.deepEqual(
        bindings,
        [
          'dead_letter_exchange --failed_documents--> dead_letter_queue',
          'dead_letter_exchange --failed_emails--> dead_letter_queue',
          'document_exchange --ingest--> documents.to_ingest',
          'email_exchange --classify--> emails.to_classify',
          'email_exchange --respond--> emails.to_respond',
          // Only the responder and the api may write reply_exchange: email_exchange does not reach emails.to_send.
          'reply_exchange --send--> emails.to_send',
          'events --#--> events.audit',
          // The hops carry their stage's events to the stream (src/messaging/events.ts, publishHop); retries do not pass here.
          'email_exchange --classify--> events.audit',
          'email_exchange --respond--> events.audit',
          'reply_exchange --send--> events.audit',
          // Retries go through each work queue's own exchange, never the default exchange.
          ...['documents.to_ingest', 'emails.to_classify', 'emails.to_respond', 'emails.to_send'].flatMap((queue) => [
            `${queue}.retry --200ms--> ${queue}.retry.200ms`,
            `${queue}.retry --400ms--> ${queue}.retry.400ms`,
            `${queue}.retry --requeue--> ${queue}`,
          ]),
        ].sort(),
      );
    });
  },
);

test('the topology command declares the topology on an empty vhost, prints the queues and exits 0', { timeout: 90_000 }, async () => {
  await withVhost({}, async (vhost) => {
    const result = await runTopologyCommand(vhost);
    assert.equal(result.code, 0, `exit code; stderr:\n${result.stderr}`);
    for (const queue of SPECIFIED_QUEUES)
      assert.match(result.stdout, new RegExp(`^\\s+${queue.name.replaceAll('.', '\\.')}\\s`, 'm'), `${queue.name} is printed`);
    assert.match(result.stdout, /events\.audit/);
    const declared = new Set((await vhost.management.queues()).map((queue) => queue.name));
    for (const queue of SPECIFIED_QUEUES) assert.ok(declared.has(queue.name), `${queue.name} exists after the command`);
  });
});

test(
  'the topology command sets the dead-letter retention as an operator policy on a dead_letter_queue declared without one, and a record older than DEAD_LETTER_MAX_AGE is gone',
  { timeout: 90_000 },
  async () => {
    await withVhost({ DEAD_LETTER_MAX_AGE: '2s' }, async (vhost) => {
      // A deployment from before the retention: its dead_letter_queue has no arguments and must keep working.
      const broker = new Broker(vhost.config, vhost.logger);
      const connection = await amqplib.connect(vhost.config.AMQP_URL);
      try {
        await broker.start();
        const result = await runTopologyCommand(vhost);
        assert.equal(result.code, 0, `exit code; stderr:\n${result.stderr}`);
        assert.match(result.stdout, /Dead letters are kept for 2s/);
        const policy = await vhost.management.request<{ definition: Record<string, unknown>; pattern: string }>(
          'GET',
          `operator-policies/${encodeURIComponent(vhost.name)}/${DEAD_LETTER_RETENTION_POLICY}`,
        );
        assert.deepEqual(policy.definition, { 'message-ttl': 2_000 });
        const deadLetterQueue = (await vhost.management.queues()).find((queue) => queue.name === QUEUES.deadLetter);
        assert.deepEqual(deadLetterQueue?.arguments, {}, 'the queue itself is unchanged: no 406 for existing deployments');

        await broker.publishRaw('dead_letter_exchange', 'failed_emails', { record: 'old' });
        const channel = await connection.createChannel();
        assert.equal((await channel.checkQueue(QUEUES.deadLetter)).messageCount, 1, 'the record arrived');
        await waitFor(async () => (await channel.checkQueue(QUEUES.deadLetter)).messageCount === 0, {
          timeoutMs: 20_000,
          what: 'the record to expire after 2 s',
        });
      } finally {
        await connection.close();
        await broker.close();
      }
    });
  },
);

test(
  'a vhost declared with the topology of before the retry exchanges takes the new one without a mismatch, and retries reach its old wait queues',
  { timeout: 60_000 },
  async () => {
    await withVhost({}, async (vhost) => {
      const connection = await amqplib.connect(vhost.config.AMQP_URL);
      const broker = new Broker(vhost.config, vhost.logger);
      try {
        // The old topology: the same queues and arguments, wait queues bound to nothing, no retry exchanges.
        const channel = await connection.createChannel();
        for (const queue of SPECIFIED_QUEUES) await channel.assertQueue(queue.name, { durable: true, arguments: queue.arguments });
        const oldWaitQueues = buildWaitQueues({
          maxAttempts: vhost.config.MAX_ATTEMPTS,
          retryBaseDelayMs: vhost.config.RETRY_BASE_DELAY_MS,
          eventsMaxAge: '7D',
        });
        for (const queue of oldWaitQueues) await channel.assertQueue(queue.name, { durable: true, arguments: queue.arguments });
        await broker.start();
        await broker.publishRaw(retryExchangeName(QUEUES.toClassify), '200ms', { n: 1 });
        const message = await nextMessage(channel, QUEUES.toClassify, 15_000, 'the retried message back in its work queue');
        assert.deepEqual(JSON.parse(message.content.toString('utf8')), { n: 1 });
      } finally {
        await broker.close();
        await connection.close();
      }
    });
  },
);

test(
  'the topology command removes the binding email_exchange --send--> emails.to_send of an older vhost: a send there is routed nowhere, reply_exchange reaches the queue',
  { timeout: 90_000 },
  async () => {
    await withVhost({}, async (vhost) => {
      const connection = await amqplib.connect(vhost.config.AMQP_URL);
      try {
        // The topology before reply_exchange: emails.to_send fed by email_exchange with `send`.
        const channel = await connection.createChannel();
        await channel.assertExchange('email_exchange', 'direct', { durable: true });
        for (const queue of SPECIFIED_QUEUES) await channel.assertQueue(queue.name, { durable: true, arguments: queue.arguments });
        await channel.bindQueue(QUEUES.toSend, 'email_exchange', 'send');
        const bindingsOfToSend = async () =>
          (await vhost.management.bindings())
            .filter((binding) => binding.destination === QUEUES.toSend && binding.source !== '')
            .map((binding) => `${binding.source} --${binding.routing_key}--> ${binding.destination}`)
            .sort();
        assert.ok((await bindingsOfToSend()).includes('email_exchange --send--> emails.to_send'), 'the old binding is there before the command');

        const result = await runTopologyCommand(vhost);
        assert.equal(result.code, 0, `exit code; stderr:\n${result.stderr}`);
        assert.deepEqual(await bindingsOfToSend(), ['emails.to_send.retry --requeue--> emails.to_send', 'reply_exchange --send--> emails.to_send']);
        assert.doesNotMatch(result.stdout, /^\s+email_exchange\s+--send-->/m, 'the printed bindings do not show it either');

        const confirms = await connection.createConfirmChannel();
        const returned: string[] = [];
        confirms.on('return', (message: { fields: { exchange: string; replyText: string } }) => {
          returned.push(`${message.fields.exchange} ${message.fields.replyText}`);
        });
        const publish = (exchange: string, n: number) =>
          new Promise<void>((resolve, reject) =>
            confirms.publish(exchange, 'send', Buffer.from(JSON.stringify({ n })), { mandatory: true }, (error) => (error ? reject(error) : resolve())),
          );
        await publish('email_exchange', 1);
        await publish('reply_exchange', 2);
        assert.deepEqual(returned, ['email_exchange NO_ROUTE'], 'only the send on email_exchange is unroutable');
        const message = await nextMessage(channel, QUEUES.toSend, 10_000, 'the reply published on reply_exchange');
        assert.deepEqual(JSON.parse(message.content.toString('utf8')), { n: 2 });
        assert.equal((await channel.checkQueue(QUEUES.toSend)).messageCount, 0, 'nothing else reached emails.to_send');
      } finally {
        await connection.close();
      }
    });
  },
);

/** Declares emails.to_classify with arguments other than those of docs/ARCHITECTURE.md#topology, as an older deployment might have. */
async function declareConflictingClassifyQueue(url: string): Promise<void> {
  const connection = await amqplib.connect(url);
  try {
    const channel = await connection.createChannel();
    await channel.assertQueue(QUEUES.toClassify, { durable: true, arguments: { 'x-message-ttl': 5000 } });
  } finally {
    await connection.close();
  }
}

test(
  'a pre-existing emails.to_classify with other arguments makes start() reject with a TopologyMismatchError naming the queue and both argument sets',
  { timeout: 60_000 },
  async () => {
    await withVhost({}, async (vhost) => {
      await declareConflictingClassifyQueue(vhost.config.AMQP_URL);
      const broker = new Broker(vhost.config, vhost.logger);
      try {
        const error = await broker.start().then(
          () => undefined,
          (rejection: unknown) => rejection,
        );
        assert.ok(error instanceof TopologyMismatchError, `start() rejects with a TopologyMismatchError, got ${String(error)}`);
        assert.equal(error.queue, QUEUES.toClassify);
        assert.equal(error.retryable, false);
        assert.deepEqual(error.declared, SPECIFIED_ARGUMENTS[QUEUES.toClassify]);
        assert.deepEqual(error.existing, { 'x-message-ttl': 5000 });
        assert.match(error.message, /emails\.to_classify/);
        assert.ok(error.message.includes(JSON.stringify(SPECIFIED_ARGUMENTS[QUEUES.toClassify])), 'the message shows the declared arguments');
        assert.ok(error.message.includes('{"x-message-ttl":5000}'), 'the message shows the existing arguments');
      } finally {
        await broker.close();
      }
    });
  },
);

test('the topology command reports a mismatching queue without a stack trace and exits non-zero within seconds', { timeout: 90_000 }, async () => {
  await withVhost({ LOG_LEVEL: 'warn' }, async (vhost) => {
    await declareConflictingClassifyQueue(vhost.config.AMQP_URL);
    const result = await runTopologyCommand(vhost);
    assert.notEqual(result.code, 0, 'exit code');
    assert.equal(result.code, 1, `exit code 1, not a crash; stderr:\n${result.stderr}`);
    assert.match(result.stderr, /Queue "emails\.to_classify" already exists with different arguments/);
    assert.ok(result.stderr.includes('{"x-message-ttl":5000}'), 'the existing arguments are printed');
    assert.doesNotMatch(result.stderr, /^\s+at .+:\d+:\d+\)?$/m, 'no stack trace');
    // A reconnect loop would hit the same 406 again and again; the report comes exactly once.
    assert.equal(result.stderr.match(/already exists with different arguments/g)?.length, 1, 'reported once');
    // tsx start-up alone takes a second or two on a busy machine; a reconnect loop never ends.
    assert.ok(result.elapsedMs < 15_000, `exited after ${result.elapsedMs} ms`);
  });
});

test('emails.to_classify delivers a priority 9 message before earlier priority 1 messages', { timeout: 60_000 }, async () => {
  await withVhost({}, async (vhost) => {
    const broker = new Broker(vhost.config, vhost.logger);
    const connection = await amqplib.connect(vhost.config.AMQP_URL);
    try {
      await broker.start();
      for (let n = 1; n <= 5; n += 1) await broker.sendToQueue(QUEUES.toClassify, { n }, { priority: 1 });
      await broker.sendToQueue(QUEUES.toClassify, { n: 6 }, { priority: 9 });
      const channel = await connection.createChannel();
      const order: number[] = [];
      while (order.length < 6) {
        const message = await nextMessage(channel, QUEUES.toClassify, 10_000, `message ${order.length + 1}`);
        order.push((JSON.parse(message.content.toString('utf8')) as { n: number }).n);
      }
      assert.deepEqual(order, [6, 1, 2, 3, 4, 5]);
    } finally {
      await connection.close();
      await broker.close();
    }
  });
});

test(
  'a message whose per-message TTL expires in emails.to_classify lands in dead_letter_queue with x-death reason "expired"',
  { timeout: 60_000 },
  async () => {
    await withVhost({}, async (vhost) => {
      const broker = new Broker(vhost.config, vhost.logger);
      const connection = await amqplib.connect(vhost.config.AMQP_URL);
      try {
        await broker.start();
        await broker.sendToQueue(QUEUES.toClassify, { n: 42 }, { messageId: 'expiring-42', expirationMs: 100 });
        const channel = await connection.createChannel();
        const dead = await nextMessage(channel, QUEUES.deadLetter, 15_000, 'expired message in dead_letter_queue');
        assert.equal(dead.properties.messageId, 'expiring-42');
        assert.deepEqual(JSON.parse(dead.content.toString('utf8')), { n: 42 });
        assert.equal(dead.fields.routingKey, 'failed_emails');
        const deaths = dead.properties.headers?.['x-death'] as Array<{ reason: string; queue: string }> | undefined;
        assert.ok(Array.isArray(deaths) && deaths.length > 0, 'x-death header present');
        assert.equal(deaths[0].reason, 'expired');
        assert.equal(deaths[0].queue, QUEUES.toClassify);
        assert.equal((await channel.checkQueue(QUEUES.toClassify)).messageCount, 0);
      } finally {
        await connection.close();
        await broker.close();
      }
    });
  },
);
