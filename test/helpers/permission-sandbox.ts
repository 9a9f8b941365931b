/**
 * The least-privilege users of rabbitmq/definitions.json, loaded into a fresh vhost through the
 * management API's definitions import (the code path `load_definitions` runs at boot), with the
 * vhost and user names made unique and the example passwords replaced (they never reach the
 * shared broker). Tests connect as each role's user to see what the broker lets it do.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/app/config.js';
import { createLogger } from '../../src/lib/log.js';
import { Broker } from '../../src/messaging/broker.js';
import { ManagementClient } from '../../src/messaging/management.js';
import type { RoleName } from '../../src/app/registry.js';
import { AMQP_BASE, MANAGEMENT_URL } from './broker.js';
import { PROJECT_ROOT } from './worker-process.js';
import { HASHING_ALGORITHM, rabbitPasswordHash } from './rabbit-password.js';

/** A user of definitions.json by role (`ragmail` is the admin). */
export type Account = 'admin' | RoleName | 'uploader' | 'monitor';
export interface DefinitionUser {
  name: string;
  /** The random password the sandbox gives the user (the file holds only example hashes). */
  password: string;
  tags: string;
}
interface DefinitionPermission {
  user: string;
  vhost: string;
  configure: string;
  write: string;
  read: string;
}
interface DefinitionTopicPermission {
  user: string;
  vhost: string;
  exchange: string;
  write: string;
  read: string;
}

/** The management API as the broker's guest, who creates and deletes the sandboxes. */
export const guest = new ManagementClient({ RABBITMQ_MANAGEMENT_URL: MANAGEMENT_URL, AMQP_URL: AMQP_BASE });
const accountOf = (name: string): Account => (name === 'ragmail' ? 'admin' : (name.replace(/^ragmail-/, '') as Account));

/** A fresh vhost holding the users of definitions.json (renamed), with the topology declared by the admin. */
export interface Sandbox {
  vhost: string;
  suffix: string;
  accounts: Map<Account, DefinitionUser>;
  /** The admin's Broker, topology declared. */
  admin: Broker;
  /** The test configuration of one account; `verify` mode for everyone but the admin. */
  configFor(account: Account, overrides?: Record<string, string>): Config;
  /** Deletes the vhost, the users and the data folder. */
  cleanup(): Promise<void>;
}

export async function createSandbox(): Promise<Sandbox> {
  const suffix = randomUUID().slice(0, 8);
  const vhost = `test-permissions-${randomUUID()}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ragmail-permissions-'));
  const accounts = new Map<Account, DefinitionUser>();
  const definitions = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'rabbitmq', 'definitions.json'), 'utf8')) as {
    users: DefinitionUser[];
    permissions: DefinitionPermission[];
    topic_permissions: DefinitionTopicPermission[];
  };
  const rename = (name: string) => `${name}-test-${suffix}`;
  // The example passwords of the file never reach the shared broker.
  const users = definitions.users.map((user) => ({ ...user, name: rename(user.name), password: randomUUID() }));
  // Imported as hashes, as the file's are: the broker takes the file's hash format.
  const imported = users.map(({ password, ...user }) => ({ ...user, password_hash: rabbitPasswordHash(password), hashing_algorithm: HASHING_ALGORITHM }));
  for (const [index, user] of users.entries()) accounts.set(accountOf(definitions.users[index].name), user);
  const permissions = definitions.permissions.map((permission) => ({ ...permission, user: rename(permission.user), vhost }));
  const topicPermissions = definitions.topic_permissions.map((permission) => ({ ...permission, user: rename(permission.user), vhost }));
  const configFor = (account: Account, overrides: Record<string, string> = {}): Config => {
    const user = accounts.get(account);
    if (!user) throw new Error(`definitions.json has no user for ${account}`);
    const url = new URL(AMQP_BASE);
    url.username = encodeURIComponent(user.name);
    url.password = encodeURIComponent(user.password);
    url.pathname = `/${encodeURIComponent(vhost)}`;
    return loadConfig({
      AMQP_URL: url.toString(),
      RABBITMQ_MANAGEMENT_URL: MANAGEMENT_URL,
      DATA_DIR: dataDir,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'error',
      LOG_FORMAT: 'json',
      RETRY_BASE_DELAY_MS: '200',
      SHUTDOWN_GRACE_MS: '5000',
      AMQP_RECONNECT_MIN_MS: '100',
      AMQP_RECONNECT_MAX_MS: '1000',
      AMQP_CONNECT_TIMEOUT_MS: '10000',
      POLL_INTERVAL_MS: '200',
      METRICS_PORT: '0',
      METRICS_HOST: '127.0.0.1',
      AMQP_TOPOLOGY: account === 'admin' ? 'declare' : 'verify',
      ...overrides,
    });
  };
  const cleanup = async () => {
    await guest.request('DELETE', `vhosts/${encodeURIComponent(vhost)}`).catch(() => undefined);
    for (const user of accounts.values()) await guest.request('DELETE', `users/${encodeURIComponent(user.name)}`).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  };
  await guest.request('POST', 'definitions', { users: imported, vhosts: [{ name: vhost }], permissions, topic_permissions: topicPermissions });
  const admin = new Broker(configFor('admin'), createLogger({ level: 'error', format: 'json', role: 'admin' }));
  try {
    await admin.start();
  } catch (error) {
    await admin.close();
    await cleanup();
    throw error;
  }
  return {
    vhost,
    suffix,
    accounts,
    admin,
    configFor,
    cleanup: async () => {
      await admin.close();
      await cleanup();
    },
  };
}
