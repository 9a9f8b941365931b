/**
 * The socket options amqplib connects with, built from the configuration: for `amqps://` URLs the
 * CA bundle, client certificate, key and passphrase read from their files, checked at boot so a
 * wrong file or passphrase stops the process with the variable's name instead of failing on every
 * reconnect. Also names TLS failures for people: Node's error codes say little to an operator.
 */
import { readFileSync } from 'node:fs';
import tls from 'node:tls';

/** The variables the connection options come from; the TLS ones are optional for callers that only have a URL. */
export interface ConnectionSettings {
  AMQP_URL: string;
  AMQP_CA_FILE?: string;
  AMQP_CERT_FILE?: string;
  AMQP_KEY_FILE?: string;
  AMQP_KEY_PASSPHRASE?: string;
  AMQP_TLS_SERVERNAME?: string;
}

/** What amqplib's `connect(url, socketOptions)` receives (it hands them to `tls.connect` for amqps). */
export interface AmqpSocketOptions {
  /**
   * Always true: amqplib leaves Nagle's algorithm on otherwise, and the small frames of confirms
   * and acks then wait for the peer's delayed ACK (~40 ms) when several roles share a connection
   * (BENCHMARKS.md: all roles in one process went from 14 to over 100 emails/s).
   */
  noDelay: true;
  /** Shown in the management UI's connection list. */
  clientProperties?: { connection_name?: string };
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  passphrase?: string;
  servername?: string;
}

/** A TLS setting that cannot work: names the variable to fix. */
export class ConnectionSettingsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConnectionSettingsError';
  }
}

function readPem(variable: string, file: string): Buffer {
  try {
    return readFileSync(file);
  } catch (error) {
    throw new ConnectionSettingsError(`${variable}=${file}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
}

function isTls(url: string): boolean {
  try {
    return new URL(url).protocol === 'amqps:';
  } catch {
    return false;
  }
}

/**
 * Socket options for amqplib. Throws ConnectionSettingsError when a TLS variable is set on a plain
 * `amqp://` URL (the operator believes the link is encrypted; it would not be), when a file cannot
 * be read, when only one of certificate and key is given, or when the key does not open with the
 * passphrase or does not match the certificate.
 */
export function buildConnectionOptions(settings: ConnectionSettings, connectionName?: string): AmqpSocketOptions {
  const options: AmqpSocketOptions = { noDelay: true, ...(connectionName ? { clientProperties: { connection_name: connectionName } } : {}) };
  const tlsVariables = (['AMQP_CA_FILE', 'AMQP_CERT_FILE', 'AMQP_KEY_FILE', 'AMQP_KEY_PASSPHRASE', 'AMQP_TLS_SERVERNAME'] as const).filter(
    (name) => settings[name],
  );
  if (!isTls(settings.AMQP_URL)) {
    if (tlsVariables.length > 0) {
      throw new ConnectionSettingsError(`${tlsVariables.join(', ')} set, but AMQP_URL is not an amqps:// URL: the connection would not use TLS`);
    }
    return options;
  }
  if (Boolean(settings.AMQP_CERT_FILE) !== Boolean(settings.AMQP_KEY_FILE)) {
    throw new ConnectionSettingsError('AMQP_CERT_FILE and AMQP_KEY_FILE go together: a client certificate needs its private key');
  }
  if (settings.AMQP_CA_FILE) options.ca = readPem('AMQP_CA_FILE', settings.AMQP_CA_FILE);
  if (settings.AMQP_CERT_FILE && settings.AMQP_KEY_FILE) {
    options.cert = readPem('AMQP_CERT_FILE', settings.AMQP_CERT_FILE);
    options.key = readPem('AMQP_KEY_FILE', settings.AMQP_KEY_FILE);
  }
  if (settings.AMQP_KEY_PASSPHRASE) options.passphrase = settings.AMQP_KEY_PASSPHRASE;
  if (settings.AMQP_TLS_SERVERNAME) options.servername = settings.AMQP_TLS_SERVERNAME;
  try {
    // The same parsing tls.connect does, once, now: bad PEM, wrong passphrase, key not matching the certificate.
    tls.createSecureContext({ ca: options.ca, cert: options.cert, key: options.key, passphrase: options.passphrase });
  } catch (error) {
    const reason = (error as Error).message;
    const culprit = /decrypt|passphrase|bad password/i.test(reason)
      ? 'AMQP_KEY_FILE / AMQP_KEY_PASSPHRASE (the key does not open with this passphrase)'
      : /key values mismatch|KEY_VALUES_MISMATCH/i.test(reason)
        ? 'AMQP_KEY_FILE (the key does not belong to AMQP_CERT_FILE)'
        : 'AMQP_CA_FILE, AMQP_CERT_FILE, AMQP_KEY_FILE (PEM expected)';
    throw new ConnectionSettingsError(`TLS settings refused: ${culprit}: ${reason}`);
  }
  return options;
}

/** Node's codes for a broker certificate this client does not trust. */
const UNTRUSTED_BROKER_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_REVOKED',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** TLS alerts from a broker that refused this client's certificate (or its absence). */
const REFUSED_CLIENT_CODES = new Set([
  'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED',
  'ERR_SSL_TLSV1_ALERT_UNKNOWN_CA',
  'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_UNKNOWN',
  'ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED',
  'ERR_SSL_TLSV1_ALERT_ACCESS_DENIED',
  'ERR_SSL_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE',
  'ERR_SSL_TLSV1_ALERT_DECRYPT_ERROR',
]);

/**
 * A TLS failure that no reconnect can cure, described with the variables to check; undefined for
 * any other error. These are configuration errors: the process should stop, as on a refused password.
 */
export function describeTlsFailure(error: unknown): string | undefined {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const reason = (error as Error | undefined)?.message ?? String(error);
  if (code && UNTRUSTED_BROKER_CODES.has(code)) {
    return code === 'ERR_TLS_CERT_ALTNAME_INVALID'
      ? `TLS: the broker's certificate is not valid for this host name (${reason}); connect by a name the certificate carries or set AMQP_TLS_SERVERNAME`
      : `TLS: the broker's certificate is not trusted (${code}: ${reason}); set AMQP_CA_FILE to the CA that signed it`;
  }
  if (code && REFUSED_CLIENT_CODES.has(code)) {
    return `TLS: the broker refused this client's certificate (${code}); set AMQP_CERT_FILE and AMQP_KEY_FILE to a certificate signed by a CA the broker trusts`;
  }
  if (code === 'ERR_SSL_WRONG_VERSION_NUMBER' || code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG') {
    return `TLS: the port of AMQP_URL does not speak TLS (${code}); use the broker's TLS port (5671 by default) or an amqp:// URL`;
  }
  return undefined;
}

/**
 * A hint for failures that may or may not be TLS: in TLS 1.3 the broker checks the client's
 * certificate after the client finished its handshake, so a refused certificate shows only as a
 * connection closed during the AMQP handshake.
 */
export function connectionFailureHint(url: string, error: unknown): string | undefined {
  const reason = (error as Error | undefined)?.message ?? '';
  if (
    isTls(url) &&
    /closed abruptly during opening handshake|ECONNRESET|socket disconnected before secure TLS/i.test(
      `${reason} ${(error as NodeJS.ErrnoException | undefined)?.code ?? ''}`,
    )
  ) {
    return 'the broker closed the TLS connection during the handshake; if it requires client certificates, check that AMQP_CERT_FILE and AMQP_KEY_FILE hold one signed by a CA it trusts';
  }
  return undefined;
}
