/**
 * The least-privilege users of rabbitmq/definitions.json, loaded into a fresh vhost through the
 * management API's definitions import (the code path `load_definitions` runs at boot), with the
 * vhost and user names made unique and the example passwords replaced. Each role's user is shown,
 * on real connections, to do its job and to be refused (403 ACCESS_REFUSED) everything else: no
 * consumer role may publish through the default exchange (which reaches every queue, e.g. straight
 * into emails.to_send) or into another role's retry exchange, and on `events` each role may
 * publish the stages it reports and no other (topic permissions), so none can forge a `drafted`
 * or a `review_approved`. Only the responder and the api may write `reply_exchange`, the one way
 * into emails.to_send, and a `send` published on `email_exchange` (which the poller, classifier
 * and api may write) is routed nowhere. Then every role runs its real runtime as its own user
 * (AMQP_TOPOLOGY=verify) on emails and a manual.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import amqplib, { type ChannelModel, type ConfirmChannel } from 'amqplib';
import { createLogger } from '../../src/lib/log.js';
import { Broker } from '../../src/messaging/broker.js';
import { ManagementClient } from '../../src/messaging/management.js';
import { EXCHANGES, QUEUES, ROUTING_KEYS, WORK_QUEUES, retryDelayMs, retryExchangeName, waitRoutingKey } from '../../src/messaging/topology.js';
import { deliverToMaildir } from '../../src/providers/mailbox/maildir.js';
import { parseEmail } from '../../src/providers/mailbox/mime.js';
import { submitDocument } from '../../src/features/documents.js';
import { startWorker, type Worker } from '../../src/app/worker.js';
import { ActivityLog, isFinal } from '../../src/store/activity-log.js';
import { DocumentRegistry } from '../../src/store/documents.js';
import { MANAGEMENT_URL, waitFor } from '../helpers/broker.js';
import { PROJECT_ROOT } from '../helpers/worker-process.js';
import { createSandbox, guest, type Account, type Sandbox } from '../helpers/permission-sandbox.js';
import { everyOf } from '../helpers/async-lists.js';

/** The vhost the probing tests share; they only probe, so they cannot disturb one another. */
let shared: Sandbox;
before(async () => {
  shared = await createSandbox();
});
after(async () => {
  await shared?.cleanup();
});

/** One thing a user tries on a channel of its own. */
type Probe = { consume: string } | { publish: [exchange: string, routingKey: string] } | { check: string } | { declare: string } | { delete: string };

const describe = (probe: Probe) =>
  Object.entries(probe)
    .map(([verb, target]) => `${verb} ${JSON.stringify(target)}`)
    .join('');

/** `ok`, or the reply code the broker closed the channel with. */
async function attempt(connection: ChannelModel, probe: Probe): Promise<'ok' | number | string> {
  const channel: ConfirmChannel = await connection.createConfirmChannel();
  let closedWith: { code?: number } | undefined;
  channel.on('error', (error: { code?: number }) => {
    closedWith = error;
  });
  try {
    // A stream (events.audit) refuses consumers without a prefetch.
    await channel.prefetch(10);
    if ('consume' in probe) await channel.consume(probe.consume, () => undefined);
    else if ('check' in probe) await channel.checkQueue(probe.check);
    // Exclusive, not transient and shared: RabbitMQ 4 deprecates transient non-exclusive queues.
    else if ('declare' in probe) await channel.assertQueue(probe.declare, { exclusive: true });
    else if ('delete' in probe) await channel.deleteQueue(probe.delete);
    else {
      const [exchange, routingKey] = probe.publish;
      await new Promise<void>((resolve, reject) =>
        channel.publish(exchange, routingKey, Buffer.from('{"probe":true}'), { expiration: '1' }, (error) => (error ? reject(error) : resolve())),
      );
    }
    await channel.close();
    return 'ok';
  } catch (error) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return closedWith?.code ?? (error as { code?: number }).code ?? (error as Error).message;
  }
}

const firstWait = waitRoutingKey(retryDelayMs({ retryBaseDelayMs: 200 }, 1));
const everyQueue = [QUEUES.toClassify, QUEUES.toRespond, QUEUES.toSend, QUEUES.toIngest, QUEUES.deadLetter, QUEUES.audit];
const retryExchanges = WORK_QUEUES.map((queue) => retryExchangeName(queue.name));
const publishTo = (exchange: string, routingKey: string): Probe => ({ publish: [exchange, routingKey] });
/** Retry (a wait queue and straight back) and dead letter: what the consumer runtime of every consumer role writes (its `dead_lettered` events below). */
const runtimeWrites = (queue: string): Probe[] => [
  publishTo(retryExchangeName(queue), firstWait),
  publishTo(retryExchangeName(queue), 'requeue'),
  publishTo(EXCHANGES.deadLetter, ROUTING_KEYS.failedEmails),
];

/**
 * The routing keys on `events` each role publishes (`<email|document>.<stage>`, src/messaging/events.ts),
 * from every emit/publishEvent call site: the topic permissions must allow these and nothing else.
 */
const eventKeys: Record<string, string[]> = {
  poller: ['email.received', 'email.skipped'],
  classifier: ['email.classified', 'email.ignored'],
  responder: ['email.retrieved', 'email.replied'],
  sender: ['email.drafted', 'email.handed_off', 'email.sent', 'email.shadowed'],
  ingester: ['document.ingest_progress', 'document.ingested'],
  uploader: ['document.queued'],
  api: ['document.queued', 'document.deleted', 'email.review_approved', 'email.review_rejected', 'email.replayed', 'document.replayed'],
};
const consumerRoles = new Set(['classifier', 'responder', 'sender', 'ingester']);
const deadLetteredKeys = ['email.dead_lettered', 'document.dead_lettered'];
const everyEventKey = [...new Set([...Object.values(eventKeys).flat(), ...deadLetteredKeys, 'email.probe'])];
const allowedEventKeys = (role: string) => [...(eventKeys[role] ?? []), ...(consumerRoles.has(role) ? deadLetteredKeys : [])];

/** What each role must be able to do, beyond the passive checks of AMQP_TOPOLOGY=verify. */
const jobs: Record<Exclude<Account, 'admin'>, { reads: string[]; writes: Probe[] }> = {
  poller: { reads: [], writes: [publishTo(EXCHANGES.email, ROUTING_KEYS.classify)] },
  classifier: { reads: [QUEUES.toClassify], writes: [publishTo(EXCHANGES.email, ROUTING_KEYS.respond), ...runtimeWrites(QUEUES.toClassify)] },
  responder: { reads: [QUEUES.toRespond], writes: [publishTo(EXCHANGES.reply, ROUTING_KEYS.send), ...runtimeWrites(QUEUES.toRespond)] },
  sender: { reads: [QUEUES.toSend], writes: runtimeWrites(QUEUES.toSend) },
  ingester: { reads: [QUEUES.toIngest], writes: [...runtimeWrites(QUEUES.toIngest), publishTo(EXCHANGES.deadLetter, ROUTING_KEYS.failedDocuments)] },
  recorder: { reads: [QUEUES.audit], writes: [] },
  uploader: { reads: [], writes: [publishTo(EXCHANGES.document, ROUTING_KEYS.ingest)] },
  /** The dashboard: uploads, approved replies, dead-letter replay (back to the work queues) and discard. */
  api: {
    reads: [QUEUES.deadLetter],
    writes: [
      publishTo(EXCHANGES.reply, ROUTING_KEYS.send),
      publishTo(EXCHANGES.email, ROUTING_KEYS.classify),
      publishTo(EXCHANGES.email, ROUTING_KEYS.respond),
      publishTo(EXCHANGES.document, ROUTING_KEYS.ingest),
    ],
  },
  monitor: { reads: [], writes: [] },
};
/** No role writes to the default exchange (''): the broker dead-letters from the wait queues by itself. */
const writableExchanges: Record<keyof typeof jobs, string[]> = {
  poller: [EXCHANGES.email, EXCHANGES.events],
  classifier: [EXCHANGES.email, retryExchangeName(QUEUES.toClassify), EXCHANGES.deadLetter, EXCHANGES.events],
  responder: [EXCHANGES.reply, retryExchangeName(QUEUES.toRespond), EXCHANGES.deadLetter, EXCHANGES.events],
  sender: [retryExchangeName(QUEUES.toSend), EXCHANGES.deadLetter, EXCHANGES.events],
  ingester: [retryExchangeName(QUEUES.toIngest), EXCHANGES.deadLetter, EXCHANGES.events],
  recorder: [],
  uploader: [EXCHANGES.document, EXCHANGES.events],
  monitor: [],
  api: [EXCHANGES.email, EXCHANGES.reply, EXCHANGES.document, EXCHANGES.events],
};
/** A forbidden publish to each exchange: into emails.to_send by name through the default exchange or by `send` on reply_exchange, a wait queue of a retry exchange. */
const forbiddenKeyOn = (exchange: string) =>
  exchange === ''
    ? QUEUES.toSend
    : exchange === EXCHANGES.reply
      ? ROUTING_KEYS.send
      : retryExchanges.includes(exchange)
        ? firstWait
        : exchange === EXCHANGES.events
          ? 'email.drafted'
          : 'any';

for (const [role, job] of Object.entries(jobs) as Array<[keyof typeof jobs, (typeof jobs)[keyof typeof jobs]]>) {
  const eventWrites = writableExchanges[role].includes(EXCHANGES.events) ? allowedEventKeys(role).map((key) => publishTo(EXCHANGES.events, key)) : [];
  test(`${role}: can ${[...job.reads.map((queue) => `read ${queue}`), ...job.writes.map(describe), ...eventWrites.map(describe)].join(', ') || 'only check that the topology exists'}; is refused every other queue, exchange and event, the default exchange, and any declare or delete`, async () => {
    const connection = await amqplib.connect(shared.configFor(role).AMQP_URL);
    connection.on('error', () => undefined);
    try {
      const allowed: Probe[] = [
        ...everyQueue.map((queue) => ({ check: queue })),
        ...job.reads.map((queue) => ({ consume: queue })),
        ...job.writes,
        ...eventWrites,
      ];
      const refused: Probe[] = [
        ...everyQueue.filter((queue) => !job.reads.includes(queue)).map((queue) => ({ consume: queue })),
        ...[EXCHANGES.email, EXCHANGES.reply, EXCHANGES.document, EXCHANGES.deadLetter, EXCHANGES.events, '', ...retryExchanges]
          .filter((exchange) => !writableExchanges[role].includes(exchange))
          .map((exchange) => publishTo(exchange, forbiddenKeyOn(exchange))),
        // Topic permissions: on `events` only its own stages (a forged `drafted` made a review reply to a stranger).
        ...(writableExchanges[role].includes(EXCHANGES.events)
          ? everyEventKey.filter((key) => !allowedEventKeys(role).includes(key)).map((key) => publishTo(EXCHANGES.events, key))
          : []),
        { declare: `scratch-${role}-${shared.suffix}` },
        { delete: job.reads[0] ?? QUEUES.toClassify },
      ];
      for (const probe of allowed) assert.equal(await attempt(connection, probe), 'ok', `${role} may ${describe(probe)}`);
      for (const probe of refused) assert.equal(await attempt(connection, probe), 403, `${role} may not ${describe(probe)}`);
    } finally {
      await connection.close().catch(() => undefined);
    }
  });
}

/** Publishes mandatory and confirmed as `account`; resolves with the broker's basic.return reply text, or undefined when the message was routed. */
async function publishMandatory(account: Account, exchange: string, routingKey: string, body: unknown): Promise<string | undefined> {
  const connection = await amqplib.connect(shared.configFor(account).AMQP_URL);
  try {
    const channel = await connection.createConfirmChannel();
    let returned: string | undefined;
    // The broker sends basic.return before the confirm of an unroutable mandatory message.
    channel.on('return', (message: { fields: { replyText: string } }) => {
      returned = message.fields.replyText;
    });
    await new Promise<void>((resolve, reject) =>
      channel.publish(exchange, routingKey, Buffer.from(JSON.stringify(body)), { mandatory: true, persistent: true }, (error) =>
        error ? reject(error) : resolve(),
      ),
    );
    await channel.close();
    return returned;
  } finally {
    await connection.close().catch(() => undefined);
  }
}

test('a `send` published on email_exchange by a role that may write it (poller, classifier, api) is routed nowhere: emails.to_send is reached through reply_exchange only', async () => {
  const forged = { message_id: `forged-${shared.suffix}`, email: { from: 'victim@stranger.example' }, generated_response: { body: 'spam' } };
  for (const account of ['poller', 'classifier', 'api'] as const) {
    assert.equal(
      await publishMandatory(account, EXCHANGES.email, ROUTING_KEYS.send, forged),
      'NO_ROUTE',
      `${account}'s send on email_exchange is returned unroutable`,
    );
  }
  const bindings = await guest.request<Array<{ source: string; destination: string; routing_key: string }>>(
    'GET',
    `queues/${encodeURIComponent(shared.vhost)}/${encodeURIComponent(QUEUES.toSend)}/bindings`,
  );
  assert.deepEqual(
    bindings
      .filter((binding) => binding.source !== '')
      .map((binding) => `${binding.source} --${binding.routing_key}--> ${binding.destination}`)
      .sort(),
    [`${retryExchangeName(QUEUES.toSend)} --requeue--> ${QUEUES.toSend}`, `${EXCHANGES.reply} --${ROUTING_KEYS.send}--> ${QUEUES.toSend}`].sort(),
    'the only ways into emails.to_send',
  );
  // The control: the same publish through reply_exchange by the responder is routed.
  assert.equal(
    await publishMandatory('responder', EXCHANGES.reply, ROUTING_KEYS.send, { ...forged, message_id: `control-${shared.suffix}` }),
    undefined,
    'the responder reaches emails.to_send',
  );
});

test('monitor: reads queue depths through the management API for the queue gauges of the workers but may not change anything there', async () => {
  const user = shared.accounts.get('monitor')!;
  const managementUrl = new URL(MANAGEMENT_URL);
  managementUrl.username = encodeURIComponent(user.name);
  managementUrl.password = encodeURIComponent(user.password);
  const monitor = new ManagementClient({ RABBITMQ_MANAGEMENT_URL: managementUrl.toString(), AMQP_URL: shared.configFor('monitor').AMQP_URL });
  const queues = (await monitor.queues()).map((queue) => queue.name);
  assert.ok(queues.includes(QUEUES.toClassify), `monitor sees the queues: ${queues.join(', ')}`);
  await assert.rejects(monitor.request('PUT', `vhosts/${encodeURIComponent(`${shared.vhost}-other`)}`, {}), /401|403/);
  await assert.rejects(monitor.request('DELETE', `queues/${encodeURIComponent(shared.vhost)}/${encodeURIComponent(QUEUES.toClassify)}`), /401|403/);
});

test('a role user on AMQP_TOPOLOGY=declare is stopped with a message pointing at AMQP_TOPOLOGY=verify', async () => {
  const broker = new Broker(shared.configFor('classifier', { AMQP_TOPOLOGY: 'declare' }), createLogger({ level: 'error', format: 'json', role: 'classifier' }));
  try {
    await assert.rejects(broker.start(), /AMQP_TOPOLOGY=verify.*ACCESS_REFUSED/s);
  } finally {
    await broker.close();
  }
});

test('every role runs its real runtime as its own user: a manual is ingested, support mail is answered, spam ignored, a bad body dead-lettered', async () => {
  const { configFor, admin, suffix, cleanup } = await createSandbox();
  const workers: Worker[] = [];
  const uploader = new Broker(configFor('uploader'), createLogger({ level: 'error', format: 'json', role: 'uploader' }));
  try {
    for (const role of ['recorder', 'ingester', 'classifier', 'responder', 'sender', 'poller'] as const) {
      workers.push(await startWorker([role], configFor(role), createLogger({ level: configFor(role).LOG_LEVEL, format: 'json', role })));
    }
    const recorder = workers[0];
    const activity = new ActivityLog(await recorder.services.database());
    const documents = new DocumentRegistry(await recorder.services.database());
    await uploader.start();
    const acme = 'support@acme.example';
    const manual = path.join(PROJECT_ROOT, 'samples', 'manuals', acme, 'acme-router-x200-manual.pdf');
    const { document_id: documentId } = await submitDocument(uploader, configFor('uploader').UPLOAD_DIR, {
      agentEmail: acme,
      filename: path.basename(manual),
      data: await readFile(manual),
    });
    await waitFor(async () => (await documents.get(documentId))?.status === 'ingested', {
      timeoutMs: 60_000,
      what: 'the manual ingested by the ingester user',
    });

    const emailIds: Record<string, string> = {};
    for (const name of ['01-router-reset.eml', '09-spam-prize.eml']) {
      const raw = await readFile(path.join(PROJECT_ROOT, 'samples', 'emails', acme, name));
      const mailboxRef = await deliverToMaildir(configFor('poller').MAILDIR_ROOT, acme, raw);
      emailIds[name] = (await parseEmail(raw, { agentEmail: acme, mailboxRef })).email.email_id;
    }
    await admin.publishRaw(EXCHANGES.email, ROUTING_KEYS.classify, { message_id: `bad-${suffix}`, not: 'an email' });
    await waitFor(async () => everyOf(Object.values(emailIds), async (id) => isFinal((await activity.getEmail(id))?.state ?? '')), {
      timeoutMs: 60_000,
      what: 'both emails in a final state',
    });
    assert.ok(
      ['sent', 'drafted'].includes((await activity.getEmail(emailIds['01-router-reset.eml']))!.state),
      `router reset: ${(await activity.getEmail(emailIds['01-router-reset.eml']))!.state}`,
    );
    assert.equal((await activity.getEmail(emailIds['09-spam-prize.eml']))!.state, 'ignored');
    // The classifier's runtime wrapped it (docs/ARCHITECTURE.md#dead-letters) and published it to dead_letter_exchange.
    const inspector = await amqplib.connect(configFor('admin').AMQP_URL);
    try {
      const channel = await inspector.createChannel();
      const record = await waitFor(
        async () => {
          const message = await channel.get(QUEUES.deadLetter, { noAck: true });
          const body = message
            ? (JSON.parse(message.content.toString('utf8')) as { original_queue?: string; original_message?: { message_id?: string } })
            : undefined;
          return body?.original_message?.message_id === `bad-${suffix}` ? body : undefined;
        },
        { timeoutMs: 20_000, what: 'the bad body dead-lettered by the classifier user' },
      );
      assert.equal(record?.original_queue, QUEUES.toClassify);
    } finally {
      await inspector.close();
    }
  } finally {
    await uploader.close();
    for (const worker of workers.reverse()) await worker.stop();
    await cleanup();
  }
});
