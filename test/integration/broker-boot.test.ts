/**
 * A worker that cannot reach its broker says why, within seconds, in words that say what to fix:
 * a wrong password, a vhost that does not exist, a closed port and an untrusted TLS certificate
 * each get their own message — against the real local RabbitMQ, and the TLS proxy of
 * test/helpers/tls.ts in front of it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomUUID } from 'node:crypto';
import { loadConfig } from '../../src/app/config.js';
import { Broker } from '../../src/messaging/broker.js';
import { createTestVhost, type TestVhost } from '../helpers/broker.js';
import { createTestPki, startTlsProxy, type TestPki, type TlsProxy } from '../helpers/tls.js';

let pki: TestPki;
let proxy: TlsProxy;
let vhost: TestVhost;

before(async () => {
  pki = createTestPki();
  proxy = await startTlsProxy(pki);
  vhost = await createTestVhost();
});

after(async () => {
  await proxy?.close();
  pki?.cleanup();
  await vhost?.cleanup();
});

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Boots a Broker on `amqpUrl` that must fail; the error and how long it took. */
async function failedBoot(amqpUrl: string, environment: Record<string, string> = {}): Promise<{ message: string; elapsedMs: number }> {
  const config = loadConfig({ AMQP_URL: amqpUrl, LOG_LEVEL: 'error', AMQP_RECONNECT_MIN_MS: '100', AMQP_RECONNECT_MAX_MS: '500', ...environment });
  const broker = new Broker(config, vhost.logger);
  const started = Date.now();
  try {
    await broker.start();
    assert.fail(`${amqpUrl} connected although it should have failed`);
  } catch (error) {
    return { message: (error as Error).message, elapsedMs: Date.now() - started };
  } finally {
    await broker.close();
  }
}

test('a user without permission on an existing vhost is told so, apart from a missing vhost (the broker answers both alike; the management API tells them apart)', async () => {
  const user = `test-boot-${randomUUID()}`;
  const password = randomUUID();
  await vhost.management.request('PUT', `users/${encodeURIComponent(user)}`, { password, tags: '' });
  try {
    const outcome = await failedBoot(`amqp://${encodeURIComponent(user)}:${password}@127.0.0.1:5672/${encodeURIComponent(vhost.name)}`);
    assert.ok(outcome.elapsedMs < 5_000, `stopped after ${outcome.elapsedMs} ms`);
    assert.match(
      outcome.message,
      new RegExp(`User ${user} may not use vhost "${vhost.name}" on the broker at 127\\.0\\.0\\.1:5672 \\(it exists\\): grant access`),
    );
    assert.doesNotMatch(outcome.message, new RegExp(password));
  } finally {
    await vhost.management.request('DELETE', `users/${encodeURIComponent(user)}`).catch(() => undefined);
  }
});

test('a wrong password, a missing vhost, a closed port and an untrusted TLS certificate each stop the boot within seconds, with their own message', async () => {
  const vhostPath = encodeURIComponent(vhost.name);
  // The default boot timeout (30 s): what the broker answered stops the boot, not the timeout.
  const password = await failedBoot(`amqp://guest:not-the-password@127.0.0.1:5672/${vhostPath}`);
  const missingVhost = await failedBoot(`amqp://guest:guest@127.0.0.1:5672/test-missing-${randomUUID()}`);
  const untrusted = await failedBoot(`amqps://guest:guest@localhost:${proxy.port}/${vhostPath}`, {
    AMQP_CERT_FILE: pki.clientCert,
    AMQP_KEY_FILE: pki.clientKey,
  });
  // Nothing answers a closed port, as nothing answers while a broker starts: it waits out AMQP_CONNECT_TIMEOUT_MS.
  const port = await closedPort();
  const refused = await failedBoot(`amqp://guest:guest@127.0.0.1:${port}`, { AMQP_CONNECT_TIMEOUT_MS: '2000' });

  for (const [name, outcome] of Object.entries({ password, missingVhost, untrusted })) {
    assert.ok(outcome.elapsedMs < 5_000, `${name}: stopped after ${outcome.elapsedMs} ms, expected within seconds`);
  }
  assert.ok(refused.elapsedMs < 5_000, `connection refused: stopped after ${refused.elapsedMs} ms`);

  assert.match(password.message, /refused the user name or password of AMQP_URL \(user guest\)/);
  assert.match(password.message, /fix them in AMQP_URL/);
  assert.doesNotMatch(password.message, /not-the-password/, 'the password is never shown');

  assert.match(missingVhost.message, /has no vhost "test-missing-[0-9a-f-]+" \(AMQP_URL's path\): fix the path of AMQP_URL/);
  assert.match(missingVhost.message, /rabbitmqctl add_vhost/);

  assert.match(untrusted.message, /certificate is not trusted .*set AMQP_CA_FILE/);

  assert.match(refused.message, new RegExp(`No RabbitMQ answered .* within 2000 ms`));
  assert.match(
    refused.message,
    new RegExp(`Nothing accepts connections at 127\\.0\\.0\\.1:${port} \\(connection refused\\): start RabbitMQ, or fix the host and port of AMQP_URL`),
  );

  const messages = [password, missingVhost, untrusted, refused].map((outcome) => outcome.message);
  assert.equal(new Set(messages.map((message) => message.slice(0, 40))).size, 4, `four different messages:\n${messages.join('\n')}`);
});
