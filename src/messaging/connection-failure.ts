/**
 * Why a connection to the broker failed, in words that say what to fix, and whether waiting can
 * cure it. A refused password, a vhost the broker will not open and a TLS failure are answers of a
 * broker that is there: the same attempt would fail again, so the process stops at once. A refused
 * connection or an unknown host is what a broker still starting (or a name not yet in DNS) looks
 * like too, so those are retried until AMQP_CONNECT_TIMEOUT_MS, with the reason logged at the first
 * failure.
 */
import { connectionFailureHint, describeTlsFailure } from './connection-options.js';
import { ManagementClient, type ManagementTarget } from './management.js';

/** A connection failure described for the operator. */
export interface ConnectionFailure {
  /** True when no reconnect can cure it: the process should stop. */
  fatal: boolean;
  /** What happened and what to change, naming the variable. */
  message: string;
  /** Set when the broker would not open AMQP_URL's vhost: {@link explainVhostRefusal} can tell why. */
  vhostRefused?: boolean;
}

/** The parts of AMQP_URL a message may show: never the password. */
function targetOf(url: string): { user: string; address: string; vhost: string } {
  try {
    const parsed = new URL(url);
    return {
      user: decodeURIComponent(parsed.username) || 'guest',
      address: `${parsed.hostname}:${parsed.port || (parsed.protocol === 'amqps:' ? 5671 : 5672)}`,
      vhost: decodeURIComponent(parsed.pathname.slice(1)) || '/',
    };
  } catch {
    return { user: '?', address: '?', vhost: '?' };
  }
}

/**
 * Describes a failed connection attempt, or undefined when there is nothing to add to the error's
 * own message (it is then retried).
 */
export function describeConnectionFailure(url: string, error: unknown): ConnectionFailure | undefined {
  const reason = (error as Error | undefined)?.message ?? String(error);
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const { user, address, vhost } = targetOf(url);
  if (/ACCESS[-_]REFUSED|\b403\b/.test(reason)) {
    // RabbitMQ says the same for an unknown user and a wrong password, and for `guest` from another host.
    const guest = user === 'guest' ? '; RabbitMQ also refuses `guest` to any client that is not on the broker host itself' : '';
    return {
      fatal: true,
      message: `The broker at ${address} refused the user name or password of AMQP_URL (user ${user}): fix them in AMQP_URL (or AMQP_URL_FILE), or the user's password on the broker (rabbitmqctl change_password ${user} …)${guest}. Broker said: ${reason}`,
    };
  }
  // RabbitMQ answers connection.open with 530 NOT_ALLOWED when the vhost does not exist or the user
  // has no permission on it; amqplib keeps only "got <ConnectionClose>" of that answer.
  if (/NOT[-_]ALLOWED|\b530\b|Expected ConnectionOpenOk; got <ConnectionClose/.test(reason)) {
    return {
      fatal: true,
      vhostRefused: true,
      message: `The broker at ${address} accepted the password but would not open vhost ${JSON.stringify(vhost)} (AMQP_URL's path) for user ${user}: the vhost does not exist, or the user has no permission on it. Fix the path of AMQP_URL (an encoded vhost, e.g. /ragmail; none for "/"), or create the vhost (rabbitmqctl add_vhost ${vhost}) and grant the user access (rabbitmqctl set_permissions -p ${vhost} ${user} …). Broker said: ${reason}`,
    };
  }
  const tls = describeTlsFailure(error);
  if (tls) return { fatal: true, message: `${tls} (AMQP_URL's broker at ${address})` };
  if (code === 'ECONNREFUSED') {
    return {
      fatal: false,
      message: `Nothing accepts connections at ${address} (connection refused): start RabbitMQ, or fix the host and port of AMQP_URL; retrying until AMQP_CONNECT_TIMEOUT_MS, as a broker that is starting refuses connections too`,
    };
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return { fatal: false, message: `The host of AMQP_URL (${address}) has no address (${code}): fix the host name of AMQP_URL, or check DNS` };
  }
  if (code === 'ETIMEDOUT' || code === 'EHOSTUNREACH' || code === 'ENETUNREACH') {
    return { fatal: false, message: `${address} does not answer (${code}): check the host and port of AMQP_URL, and that a firewall lets AMQP through` };
  }
  const hint = connectionFailureHint(url, error);
  return hint ? { fatal: false, message: hint } : undefined;
}

/**
 * The broker says the same for a vhost that does not exist and one the user may not use; the
 * management API (RABBITMQ_MANAGEMENT_URL) tells them apart. The failure as it was when it cannot
 * (no management API, or a user not allowed to ask).
 */
export async function explainVhostRefusal(failure: ConnectionFailure, target: ManagementTarget): Promise<ConnectionFailure> {
  const { user, address, vhost } = targetOf(target.AMQP_URL);
  const said = failure.message.slice(failure.message.indexOf('Broker said:'));
  try {
    await new ManagementClient(target).request('GET', `vhosts/${encodeURIComponent(vhost)}`);
  } catch (error) {
    if (!/: 404 /.test((error as Error).message)) return failure;
    return {
      ...failure,
      message: `The broker at ${address} has no vhost ${JSON.stringify(vhost)} (AMQP_URL's path): fix the path of AMQP_URL (an encoded vhost, e.g. /ragmail; none for "/"), or create the vhost (rabbitmqctl add_vhost ${vhost}) and grant ${user} access (rabbitmqctl set_permissions -p ${vhost} ${user} …). ${said}`,
    };
  }
  return {
    ...failure,
    message: `User ${user} may not use vhost ${JSON.stringify(vhost)} on the broker at ${address} (it exists): grant access (rabbitmqctl set_permissions -p ${vhost} ${user} …; rabbitmq/README.md lists each role's), or connect as the user meant for this role in AMQP_URL. ${said}`,
  };
}
