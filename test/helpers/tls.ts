/**
 * TLS test support: a throwaway PKI made with the `openssl` command (a CA, a server certificate for
 * localhost / 127.0.0.1, client certificates signed by it, and a second, foreign CA with a client
 * certificate of its own), and a TLS-terminating proxy in front of the local RabbitMQ that demands
 * a client certificate signed by the test CA — what a RabbitMQ TLS listener with `verify_peer` and
 * `fail_if_no_peer_cert` does, without reconfiguring the shared broker.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** File paths of the generated PKI (PEM). */
export interface TestPki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** The client key encrypted with `clientKeyPassphrase`. */
  clientKeyEncrypted: string;
  clientKeyPassphrase: string;
  /** A CA the proxy does not trust, and a client certificate it signed. */
  foreignCaCert: string;
  foreignClientCert: string;
  foreignClientKey: string;
  /** Deletes every file. */
  cleanup(): void;
}

function openssl(dir: string, ...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A new EC P-256 key in `name`. */
function newKey(dir: string, name: string): void {
  openssl(dir, 'genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', name);
}

function newCa(dir: string, name: string, commonName: string): void {
  newKey(dir, `${name}.key`);
  // req -x509 adds basicConstraints CA:TRUE and the key identifiers from openssl.cnf's v3_ca.
  openssl(dir, 'req', '-x509', '-new', '-key', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', `/CN=${commonName}`);
}

/** A leaf certificate `name.crt` for `name.key`, signed by the CA `ca`, with the given extensions. */
function newLeaf(dir: string, name: string, ca: string, commonName: string, extensions: string): void {
  newKey(dir, `${name}.key`);
  openssl(dir, 'req', '-new', '-key', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${commonName}`);
  writeFileSync(path.join(dir, `${name}.ext`), extensions);
  openssl(
    dir,
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${name}.crt`,
    '-days',
    '2',
    '-extfile',
    `${name}.ext`,
  );
}

/** Generates the whole PKI in a fresh temp dir (about a second). */
export function createTestPki(): TestPki {
  const dir = mkdtempSync(path.join(tmpdir(), 'ragmail-tls-'));
  const file = (name: string) => path.join(dir, name);
  const passphrase = `pass-${process.pid}-${Date.now()}`;
  newCa(dir, 'ca', 'ragmail test CA');
  newLeaf(
    dir,
    'server',
    'ca',
    'localhost',
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n',
  );
  newLeaf(dir, 'client', 'ca', 'ragmail-worker', 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n');
  openssl(dir, 'pkey', '-in', 'client.key', '-out', 'client-encrypted.key', '-aes256', '-passout', `pass:${passphrase}`);
  newCa(dir, 'foreign-ca', 'some other CA');
  newLeaf(dir, 'foreign-client', 'foreign-ca', 'ragmail-worker', 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n');
  return {
    dir,
    caCert: file('ca.crt'),
    serverCert: file('server.crt'),
    serverKey: file('server.key'),
    clientCert: file('client.crt'),
    clientKey: file('client.key'),
    clientKeyEncrypted: file('client-encrypted.key'),
    clientKeyPassphrase: passphrase,
    foreignCaCert: file('foreign-ca.crt'),
    foreignClientCert: file('foreign-client.crt'),
    foreignClientKey: file('foreign-client.key'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** A running TLS proxy. */
export interface TlsProxy {
  port: number;
  /** Connections whose client certificate was accepted and that were piped to the broker. */
  readonly forwarded: number;
  /** TLS errors seen on the server side (e.g. an untrusted client certificate). */
  readonly clientErrors: string[];
  close(): Promise<void>;
}

/**
 * A TLS server on 127.0.0.1 (free port) with the PKI's server certificate that requires a client
 * certificate signed by the PKI's CA, and pipes each accepted connection to `target` (plain AMQP).
 */
export async function startTlsProxy(pki: TestPki, target: { host: string; port: number } = { host: '127.0.0.1', port: 5672 }): Promise<TlsProxy> {
  const sockets = new Set<net.Socket>();
  const clientErrors: string[] = [];
  let forwarded = 0;
  const server = tls.createServer(
    {
      key: readFileSync(pki.serverKey),
      cert: readFileSync(pki.serverCert),
      ca: readFileSync(pki.caCert),
      requestCert: true,
      rejectUnauthorized: true,
    },
    (client) => {
      forwarded += 1;
      const upstream = net.connect(target);
      sockets.add(client).add(upstream);
      const forget = () => {
        sockets.delete(client);
        sockets.delete(upstream);
        client.destroy();
        upstream.destroy();
      };
      client.on('error', forget).on('close', forget);
      upstream.on('error', forget).on('close', forget);
      client.pipe(upstream).pipe(client);
    },
  );
  server.on('tlsClientError', (error) => clientErrors.push((error as NodeJS.ErrnoException).code ?? error.message));
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as net.AddressInfo;
  return {
    port,
    get forwarded() {
      return forwarded;
    },
    clientErrors,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
