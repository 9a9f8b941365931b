/**
 * amqps:// with a CA, a client certificate and its key, against the local RabbitMQ through a
 * TLS-terminating proxy (test/helpers/tls.ts) that requires a client certificate signed by a CA the
 * test generated — the checks a RabbitMQ TLS listener with verify_peer + fail_if_no_peer_cert makes.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig, type Config } from '../../src/app/config.js';
import { Broker } from '../../src/messaging/broker.js';
import { buildConnectionOptions, ConnectionSettingsError } from '../../src/messaging/connection-options.js';
import { EXCHANGES, QUEUES, ROUTING_KEYS } from '../../src/messaging/topology.js';
import { createTestVhost, waitFor, type TestVhost } from '../helpers/broker.js';
import { createTestPki, startTlsProxy, type TestPki, type TlsProxy } from '../helpers/tls.js';

let pki: TestPki;
let proxy: TlsProxy;

before(async () => {
  pki = createTestPki();
  proxy = await startTlsProxy(pki);
});

after(async () => {
  await proxy?.close();
  pki?.cleanup();
});

/** The vhost's configuration with AMQP_URL through the TLS proxy and the given TLS variables. */
function tlsConfig(vhost: TestVhost, variables: Record<string, string>): Config {
  return loadConfig({
    ...Object.fromEntries(
      Object.entries(vhost.config)
        .filter(([, value]) => typeof value === 'string' || typeof value === 'number')
        .map(([name, value]) => [name, String(value)]),
    ),
    AMQP_URL: `amqps://guest:guest@localhost:${proxy.port}/${encodeURIComponent(vhost.name)}`,
    ...variables,
  });
}

/** Starts a Broker that must fail; resolves to the error and how long it took. */
async function failingStart(config: Config, vhost: TestVhost): Promise<{ error: Error; elapsedMs: number }> {
  const broker = new Broker(config, vhost.logger);
  const started = Date.now();
  try {
    await broker.start();
    assert.fail('the broker connected although it should have been refused');
  } catch (error) {
    return { error: error as Error, elapsedMs: Date.now() - started };
  } finally {
    await broker.close();
  }
}

test('amqps:// with AMQP_CA_FILE, AMQP_CERT_FILE and AMQP_KEY_FILE connects through TLS, declares the topology and round-trips a message', async () => {
  const vhost = await createTestVhost();
  const forwardedBefore = proxy.forwarded;
  const broker = new Broker(tlsConfig(vhost, { AMQP_CA_FILE: pki.caCert, AMQP_CERT_FILE: pki.clientCert, AMQP_KEY_FILE: pki.clientKey }), vhost.logger);
  try {
    await broker.start();
    assert.ok(proxy.forwarded > forwardedBefore, 'the connection went through the TLS proxy');
    const queues = (await vhost.management.queues()).map((queue) => queue.name);
    assert.ok(queues.includes(QUEUES.toClassify) && queues.includes(QUEUES.audit), `topology declared over TLS: ${queues.join(', ')}`);

    const received: unknown[] = [];
    const consumer = broker.consume(QUEUES.toClassify, 1, (message, channel) => {
      received.push(JSON.parse(message.content.toString('utf8')));
      channel.ack(message);
    });
    const body = { message_id: `tls-${Date.now()}`, note: 'over TLS' };
    await broker.publishRaw(EXCHANGES.email, ROUTING_KEYS.classify, body, { priority: 5 });
    await waitFor(() => received.length === 1, { what: 'the message consumed over TLS' });
    assert.deepEqual(received[0], body);
    await consumer.close();
  } finally {
    await broker.close();
    await vhost.cleanup();
  }
});

test('an encrypted client key opens with AMQP_KEY_PASSPHRASE; a wrong passphrase stops the Broker at once, naming the variables', async () => {
  const vhost = await createTestVhost();
  try {
    const broker = new Broker(
      tlsConfig(vhost, {
        AMQP_CA_FILE: pki.caCert,
        AMQP_CERT_FILE: pki.clientCert,
        AMQP_KEY_FILE: pki.clientKeyEncrypted,
        AMQP_KEY_PASSPHRASE: pki.clientKeyPassphrase,
      }),
      vhost.logger,
    );
    try {
      await broker.start();
      assert.ok(broker.ready);
    } finally {
      await broker.close();
    }
    assert.throws(
      () =>
        new Broker(
          tlsConfig(vhost, {
            AMQP_CA_FILE: pki.caCert,
            AMQP_CERT_FILE: pki.clientCert,
            AMQP_KEY_FILE: pki.clientKeyEncrypted,
            AMQP_KEY_PASSPHRASE: 'not the passphrase',
          }),
          vhost.logger,
        ),
      (error: unknown) => error instanceof ConnectionSettingsError && /AMQP_KEY_PASSPHRASE/.test(error.message),
    );
  } finally {
    await vhost.cleanup();
  }
});

test('without AMQP_CA_FILE the broker certificate is not trusted: boot fails fast with a message naming AMQP_CA_FILE', async () => {
  const vhost = await createTestVhost();
  const forwardedBefore = proxy.forwarded;
  try {
    const config = tlsConfig(vhost, { AMQP_CERT_FILE: pki.clientCert, AMQP_KEY_FILE: pki.clientKey, AMQP_CONNECT_TIMEOUT_MS: '10000' });
    const { error, elapsedMs } = await failingStart(config, vhost);
    assert.match(error.message, /certificate is not trusted/);
    assert.match(error.message, /SELF_SIGNED_CERT_IN_CHAIN/);
    assert.match(error.message, /AMQP_CA_FILE/);
    assert.ok(elapsedMs < 5_000, `failed after ${elapsedMs} ms, not at the 10 s connect timeout`);
    assert.equal(proxy.forwarded, forwardedBefore, 'nothing reached the broker');
  } finally {
    await vhost.cleanup();
  }
});

test('a client certificate from another CA is refused and nothing reaches the broker; no certificate at all is refused at once', async () => {
  const vhost = await createTestVhost();
  const forwardedBefore = proxy.forwarded;
  const errorsBefore = proxy.clientErrors.length;
  try {
    // TLS 1.3 checks the client certificate after the client's handshake: the refusal shows as a closed socket.
    const foreign = tlsConfig(vhost, {
      AMQP_CA_FILE: pki.caCert,
      AMQP_CERT_FILE: pki.foreignClientCert,
      AMQP_KEY_FILE: pki.foreignClientKey,
      AMQP_CONNECT_TIMEOUT_MS: '1500',
    });
    const refused = await failingStart(foreign, vhost);
    assert.match(refused.error.message, /No RabbitMQ answered .* within 1500 ms/);
    assert.match(refused.error.message, /last failure: .*AMQP_CERT_FILE and AMQP_KEY_FILE/);
    assert.ok(proxy.clientErrors.length > errorsBefore, 'the proxy refused the handshake');

    const anonymous = tlsConfig(vhost, { AMQP_CA_FILE: pki.caCert, AMQP_CONNECT_TIMEOUT_MS: '10000' });
    const missing = await failingStart(anonymous, vhost);
    assert.match(missing.error.message, /refused this client's certificate \(ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED\)/);
    assert.ok(missing.elapsedMs < 5_000, `failed after ${missing.elapsedMs} ms`);
    assert.equal(proxy.forwarded, forwardedBefore, 'nothing reached the broker');
  } finally {
    await vhost.cleanup();
  }
});

test('an amqps:// URL on the plain AMQP port, or a certificate for another name, stops the boot at once with the variable to fix', async () => {
  const vhost = await createTestVhost();
  try {
    const plainPort = loadConfig({
      AMQP_URL: `amqps://guest:guest@localhost:5672/${encodeURIComponent(vhost.name)}`,
      AMQP_CONNECT_TIMEOUT_MS: '10000',
      LOG_LEVEL: 'error',
    });
    const wrongPort = await failingStart(plainPort, vhost);
    assert.match(wrongPort.error.message, /does not speak TLS \(ERR_SSL_WRONG_VERSION_NUMBER\)/);
    assert.ok(wrongPort.elapsedMs < 5_000, `failed after ${wrongPort.elapsedMs} ms`);

    const otherName = tlsConfig(vhost, {
      AMQP_CA_FILE: pki.caCert,
      AMQP_CERT_FILE: pki.clientCert,
      AMQP_KEY_FILE: pki.clientKey,
      AMQP_TLS_SERVERNAME: 'rabbitmq.internal',
      AMQP_CONNECT_TIMEOUT_MS: '10000',
    });
    const wrongName = await failingStart(otherName, vhost);
    assert.match(wrongName.error.message, /not valid for this host name.*AMQP_TLS_SERVERNAME/);
  } finally {
    await vhost.cleanup();
  }
});

test('TLS variables on a plain amqp:// URL are refused, so nobody believes a plaintext link is encrypted', () => {
  assert.throws(
    () => buildConnectionOptions({ AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672', AMQP_CA_FILE: pki.caCert }),
    /AMQP_CA_FILE set, but AMQP_URL is not an amqps:\/\/ URL/,
  );
  assert.throws(
    () => buildConnectionOptions({ AMQP_URL: 'amqps://127.0.0.1', AMQP_CERT_FILE: pki.clientCert }),
    /AMQP_CERT_FILE and AMQP_KEY_FILE go together/,
  );
  assert.throws(
    () => buildConnectionOptions({ AMQP_URL: 'amqps://127.0.0.1', AMQP_CA_FILE: `${pki.dir}/missing.pem` }),
    /AMQP_CA_FILE=.*missing\.pem: cannot read the file \(ENOENT\)/,
  );
  const options = buildConnectionOptions({ AMQP_URL: 'amqps://127.0.0.1', AMQP_CA_FILE: pki.caCert, AMQP_TLS_SERVERNAME: 'localhost' });
  assert.equal(options.servername, 'localhost');
  assert.match(options.ca?.toString('utf8') ?? '', /BEGIN CERTIFICATE/);
});
