/**
 * The deployment files, checked by the tools that will read them: `docker-compose config` accepts
 * the compose stack and gives every role a service running that role; `promtool` accepts the
 * Prometheus configuration and every query of the Grafana dashboard, which names only metrics the
 * workers export; the Kubernetes example has a Deployment per role and a KEDA ScaledObject per
 * consumer role. A missing tool skips on a workstation and fails in CI (`CI=true`).
 */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/app/config.js';
import { ROLE_NAMES, type RoleName } from '../../src/app/registry.js';
import { QUEUES } from '../../src/messaging/topology.js';
import { createWorkerMetrics, registerQueueGauges, registerQuotaGauge } from '../../src/observability/metrics.js';
import { PROJECT_ROOT } from '../helpers/worker-process.js';
import { HASHING_ALGORITHM, matchesRabbitHash } from '../helpers/rabbit-password.js';

const COMPOSE_FILE = 'docker-compose.rabbitmq.yml';
const INSTALL = {
  'docker-compose': 'apt-get install -y --no-install-recommends docker-compose',
  promtool: 'apt-get install -y --no-install-recommends prometheus',
  kubectl: '',
} as const;

/** The queue each scaled consumer role reads. */
const CONSUMED: Partial<Record<RoleName, string>> = {
  classifier: QUEUES.toClassify,
  responder: QUEUES.toRespond,
  sender: QUEUES.toSend,
  ingester: QUEUES.toIngest,
};

/**
 * Runs a tool from the project root; undefined (after skipping the test) when it is not installed,
 * outside CI. kubectl is optional even in CI: Debian does not package it.
 */
function run(context: TestContext, tool: keyof typeof INSTALL, args: string[]): SpawnSyncReturns<string> | undefined {
  const result = spawnSync(tool, args, { cwd: PROJECT_ROOT, encoding: 'utf8', timeout: 60_000 });
  if ((result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    const advice = `${tool} is not installed${INSTALL[tool] ? `: ${INSTALL[tool]}` : ''}`;
    if (process.env.CI === 'true' && INSTALL[tool]) throw new Error(`${advice} (CI must install it)`);
    context.skip(advice);
    return undefined;
  }
  if (result.error) throw result.error;
  return result;
}

const unquote = (value: string) =>
  value
    .trim()
    .replace(/^'(.*)'$/, '$1')
    .replace(/^"(.*)"$/, '$1');

/**
 * The services of `docker-compose config` output, each as its lines. That output is PyYAML's block
 * style: services two spaces in, their keys four, sequences at their key's indent.
 */
function serviceBlocks(output: string): Map<string, string[]> {
  const lines = output.split('\n');
  const start = lines.indexOf('services:');
  assert.ok(start >= 0, `no services in:\n${output}`);
  const blocks = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of lines.slice(start + 1)) {
    if (/^\S/.test(line)) break;
    const name = /^ {2}([^\s:]+):$/.exec(line)?.[1];
    if (name) blocks.set(name, (current = []));
    else current?.push(line);
  }
  return blocks;
}

/** The value of a service key: its sequence items, or its one scalar. */
function valuesOf(block: string[], key: string): string[] {
  const index = block.findIndex((line) => line.startsWith(`    ${key}:`));
  if (index < 0) return [];
  const inline = block[index].slice(`    ${key}:`.length).trim();
  if (inline) return [unquote(inline)];
  const items: string[] = [];
  for (const line of block.slice(index + 1)) {
    const item = /^ {4}- (.*)$/.exec(line);
    if (!item) break;
    items.push(unquote(item[1]));
  }
  return items;
}

interface BrokerUser {
  name: string;
  password?: string;
  password_hash?: string;
  hashing_algorithm?: string;
  /** A comma-separated string in exported definitions, a list in newer ones. */
  tags: string | string[];
}

const tagsOf = (user: BrokerUser) => (Array.isArray(user.tags) ? user.tags : user.tags.split(',')).map((tag) => tag.trim()).filter(Boolean);

test('rabbitmq/definitions.json holds no plain-text password: every user a sha256 password_hash, each of its documented example password', () => {
  const definitions = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'rabbitmq/definitions.json'), 'utf8')) as { users: BrokerUser[] };
  for (const user of definitions.users) {
    assert.equal(user.password, undefined, `${user.name} has no plain-text password`);
    assert.equal(user.hashing_algorithm, HASHING_ALGORITHM, `${user.name}'s hashing algorithm`);
    // The compose file's example passwords (rabbitmq/README.md): ragmail/ragmail for the admin, change-me-<role> for the others.
    const example = user.name === 'ragmail' ? 'ragmail' : `change-me-${user.name.replace(/^ragmail-/, '')}`;
    assert.ok(matchesRabbitHash(example, user.password_hash ?? ''), `${user.name}'s hash is of ${example}`);
    assert.ok(!matchesRabbitHash(`${example}x`, user.password_hash ?? ''), 'a hash matches one password only');
  }
});

test('docker-compose config accepts the compose file: a service per role running that role as its own broker user, with /readyz checks, Prometheus and Grafana', (context) => {
  const result = run(context, 'docker-compose', ['-f', COMPOSE_FILE, 'config']);
  if (!result) return;
  assert.equal(result.status, 0, `docker-compose config failed:\n${result.stderr}`);
  const services = serviceBlocks(result.stdout);
  for (const name of [...ROLE_NAMES, 'rabbitmq', 'redis', 'topology', 'prometheus', 'grafana'])
    assert.ok(services.has(name), `service ${name} in ${[...services.keys()].join(', ')}`);
  const environment = (block: string[], name: string) => block.map((line) => new RegExp(`^ {6}${name}: (.*)$`).exec(line)?.[1]).find(Boolean);
  const definitions = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'rabbitmq/definitions.json'), 'utf8')) as { users: BrokerUser[] };
  const userOf = (url: string) => {
    const parsed = new URL(url);
    const user = definitions.users.find((candidate) => candidate.name === decodeURIComponent(parsed.username));
    assert.ok(user, `${parsed.username} is a user of rabbitmq/definitions.json`);
    assert.ok(
      matchesRabbitHash(decodeURIComponent(parsed.password), user.password_hash ?? ''),
      `the password of ${user.name} is the one hashed in rabbitmq/definitions.json`,
    );
    return user;
  };

  const workers = [...services].filter(([, block]) => valuesOf(block, 'command')[0] === 'worker');
  assert.deepEqual(workers.map(([name]) => name).sort(), [...ROLE_NAMES].sort(), 'the worker services are the roles');
  for (const [name, block] of workers) {
    assert.deepEqual(valuesOf(block, 'image'), ['ragmail:latest'], `${name} runs the ragmail image`);
    assert.match(valuesOf(block, 'command').join(' '), new RegExp(`^worker --role[= ]${name}$`), `command of ${name}`);
    assert.ok(
      block.some((line) => line.includes('/readyz')),
      `${name} has a /readyz healthcheck (connected to the broker, not only alive)`,
    );
    assert.match(environment(block, 'METRICS_PORT') ?? '', /^'?9464'?$/, `${name} serves metrics on 9464, where Prometheus looks`);
    // Loopback is the default: Prometheus, on another container, needs the compose network address.
    assert.equal(environment(block, 'METRICS_HOST'), '0.0.0.0', `${name} serves metrics beyond its own loopback`);
    assert.equal(environment(block, 'API_HOST'), name === 'api' ? '0.0.0.0' : undefined, `${name}: API_HOST`);
    // Only the dashboard is meant for people, and only on loopback; the workers publish nothing.
    assert.deepEqual(
      valuesOf(block, 'ports'),
      name === 'api' ? ['127.0.0.1:8080:8080/tcp'] : [],
      `${name} publishes ${name === 'api' ? 'the dashboard on loopback' : 'no port on the host'}`,
    );
    // Least privilege: each role connects as its own user and leaves declaring to the admin.
    assert.equal(userOf(environment(block, 'AMQP_URL') ?? '').name, `ragmail-${name}`, `${name} connects as its own user`);
    assert.equal(environment(block, 'AMQP_TOPOLOGY'), 'verify', `${name} only verifies the topology`);
    assert.deepEqual(tagsOf(userOf(environment(block, 'RABBITMQ_MANAGEMENT_URL') ?? '')), ['monitoring'], `${name} reads queue depths as a monitoring user`);
    assert.ok(block.join('\n').includes('topology:\n        condition: service_completed_successfully'), `${name} starts after the topology is declared`);
  }
  const topology = services.get('topology')!;
  assert.deepEqual(valuesOf(topology, 'command'), ['topology']);
  assert.ok(tagsOf(userOf(environment(topology, 'AMQP_URL') ?? '')).includes('administrator'), 'the topology is declared by the admin');
  assert.ok(
    tagsOf(userOf(environment(topology, 'RABBITMQ_MANAGEMENT_URL') ?? '')).includes('administrator'),
    'the dead-letter retention policy is set by the admin',
  );

  // Example passwords: every ragmail service refuses them, unless RAGMAIL_DEMO=true; Grafana waits for the topology service, which checks its password.
  const grafana = services.get('grafana')!;
  assert.equal(
    unquote(environment(topology, 'GRAFANA_ADMIN_PASSWORD') ?? ''),
    unquote(environment(grafana, 'GF_SECURITY_ADMIN_PASSWORD') ?? '-'),
    "topology checks Grafana's password",
  );
  assert.ok(grafana.join('\n').includes('topology:\n        condition: service_completed_successfully'), 'Grafana starts after the topology service');
  for (const [name, block] of [...workers, ['topology', topology] as const]) {
    const variables = Object.fromEntries(
      ['AMQP_URL', 'RABBITMQ_MANAGEMENT_URL', 'GRAFANA_ADMIN_PASSWORD', 'RAGMAIL_DEMO'].map((variable) => [
        variable,
        unquote(environment(block, variable) ?? ''),
      ]),
    );
    assert.equal(variables.RAGMAIL_DEMO, 'false', `${name}: RAGMAIL_DEMO defaults to false`);
    assert.throws(() => loadConfig(variables), /an example password of this repository/, `${name} refuses the example passwords`);
    assert.equal(loadConfig({ ...variables, RAGMAIL_DEMO: 'true' }).RAGMAIL_DEMO, true, `${name} runs on them as a demo`);
  }

  assert.ok(
    services.get('prometheus')!.some((line) => line.includes('prometheus/prometheus.yml:/etc/prometheus/prometheus.yml')),
    'Prometheus gets prometheus/prometheus.yml',
  );
  assert.ok(
    services.get('grafana')!.some((line) => line.includes('grafana/provisioning:/etc/grafana/provisioning')),
    'Grafana gets its provisioning',
  );
  assert.ok(
    services.get('grafana')!.some((line) => line.includes('grafana/dashboards:/etc/grafana/dashboards')),
    'Grafana gets the dashboards',
  );
  for (const name of ['redis', 'rabbitmq', 'prometheus', 'grafana']) {
    for (const port of valuesOf(services.get(name)!, 'ports')) assert.match(port, /^127\.0\.0\.1:/, `${name} publishes ${port} on loopback only`);
  }
  // The current series, with the management plugin the dead-letter tools and the dashboard read.
  assert.deepEqual(valuesOf(services.get('rabbitmq')!, 'image'), ['rabbitmq:4.2-management'], 'the broker runs RabbitMQ 4.2');
});

const CLUSTER_FILE = 'deploy/rabbitmq-cluster/docker-compose.cluster.yml';

test('docker-compose config accepts the three-node cluster example: three RabbitMQ 4.2 nodes of one cookie that find each other, every process given all three nodes and quorum queues, the topology declared once all three are up', (context) => {
  const result = run(context, 'docker-compose', ['-f', COMPOSE_FILE, '-f', CLUSTER_FILE, 'config']);
  if (!result) return;
  assert.equal(result.status, 0, `docker-compose config failed:\n${result.stderr}`);
  const services = serviceBlocks(result.stdout);
  const nodes = ['rabbitmq', 'rabbitmq-2', 'rabbitmq-3'];
  const environment = (block: string[], name: string) => unquote(block.map((line) => new RegExp(`^ {6}${name}: (.*)$`).exec(line)?.[1]).find(Boolean) ?? '');
  const clusterConf = readFileSync(path.join(PROJECT_ROOT, 'deploy/rabbitmq-cluster/cluster.conf'), 'utf8');
  const cookies = new Set<string>();
  for (const node of nodes) {
    const block = services.get(node);
    assert.ok(block, `service ${node}`);
    assert.deepEqual(valuesOf(block, 'image'), ['rabbitmq:4.2-management'], `${node} runs RabbitMQ 4.2`);
    assert.ok(
      block.some((line) => line.includes('deploy/rabbitmq-cluster/cluster.conf:/etc/rabbitmq/conf.d/20-cluster.conf')),
      `${node} gets cluster.conf`,
    );
    assert.ok(
      block.some((line) => line.includes('rabbitmq/definitions.json:/etc/rabbitmq/definitions.json')),
      `${node} gets the users and vhost`,
    );
    assert.match(clusterConf, new RegExp(`^cluster_formation\\.classic_config\\.nodes\\.\\d = rabbit@${node}$`, 'm'), `cluster.conf names rabbit@${node}`);
    const cookie = /-setcookie (\S+)/.exec(environment(block, 'RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS'))?.[1];
    assert.ok(cookie, `${node} has an Erlang cookie`);
    assert.equal(/-setcookie (\S+)/.exec(environment(block, 'RABBITMQ_CTL_ERL_ARGS'))?.[1], cookie, `${node}'s CLI tools (health check) use its cookie`);
    cookies.add(cookie);
  }
  assert.equal(cookies.size, 1, 'one cookie for the three nodes');
  // YAML may fold the health check's command over two lines.
  assert.match(services.get('rabbitmq')!.join(' ').replace(/\s+/g, ' '), /await_online_nodes 3/, 'the first node is healthy once three nodes run');

  const topology = services.get('topology')!;
  assert.ok(topology.join('\n').includes('rabbitmq-2:\n        condition: service_healthy'), 'the topology waits for rabbitmq-2');
  assert.ok(topology.join('\n').includes('rabbitmq-3:\n        condition: service_healthy'), 'the topology waits for rabbitmq-3');
  for (const [name, block] of [...services].filter(([, block]) => ['worker', 'topology'].includes(valuesOf(block, 'command')[0] ?? ''))) {
    const config = loadConfig({ AMQP_URL: environment(block, 'AMQP_URL'), QUEUE_TYPE: environment(block, 'QUEUE_TYPE'), RAGMAIL_DEMO: 'true' });
    assert.equal(config.QUEUE_TYPE, 'quorum', `${name} declares or verifies quorum queues`);
    assert.deepEqual(
      config.amqpUrls.map((url) => new URL(url).hostname),
      nodes,
      `${name} knows every node`,
    );
    assert.equal(new Set(config.amqpUrls.map((url) => new URL(url).username)).size, 1, `${name} is one user on every node`);
  }
});

test('promtool accepts prometheus/prometheus.yml, which discovers every role by DNS on :9464 and scrapes RabbitMQ', (context) => {
  const result = run(context, 'promtool', ['check', 'config', 'prometheus/prometheus.yml']);
  if (!result) return;
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
  const text = readFileSync(path.join(PROJECT_ROOT, 'prometheus/prometheus.yml'), 'utf8');
  const discovered = [...text.matchAll(/names:\s*\[([^\]]*)\]\s*\n\s*type:\s*A\s*\n\s*port:\s*9464/g)].flatMap((match) => match[1].split(',').map(unquote));
  assert.deepEqual([...discovered].sort(), [...ROLE_NAMES].sort(), 'one A-record discovery per role service');
  assert.match(text, /targets:\s*\[\s*"rabbitmq:15692"\s*\]/);
});

interface DashboardPanel {
  title?: string;
  targets?: Array<{ expr?: string }>;
  panels?: DashboardPanel[];
}

test('every query of the Grafana dashboard is valid PromQL and names only metrics the workers export', async (context) => {
  const dashboard = JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'grafana/dashboards/ragmail.json'), 'utf8')) as { uid: string; panels: DashboardPanel[] };
  const panels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]);
  const queries = panels.flatMap((panel) => (panel.targets ?? []).map((target) => ({ title: panel.title ?? '', expr: target.expr ?? '' })));
  assert.ok(queries.length >= 15, `the dashboard has its queries (${queries.length})`);
  const datasource = JSON.stringify(dashboard.panels);
  assert.ok(!datasource.includes('${DS_'), 'no import-time datasource variables: the provisioned datasource is named by uid');
  assert.match(readFileSync(path.join(PROJECT_ROOT, 'grafana/provisioning/datasources/prometheus.yml'), 'utf8'), /uid: ragmail-prometheus/);

  // What the dashboard asks of the workers must exist, or its panels stay empty without a word.
  const metrics = createWorkerMetrics();
  registerQueueGauges(metrics, { queues: async () => [] });
  registerQuotaGauge(metrics, { ledger: { quotaRemaining: async () => 0 }, limit: 1, mailboxes: () => [] });
  const exported = new Map((await metrics.registry.getMetricsAsJSON()).map((metric) => [metric.name, String(metric.type)]));
  for (const { title, expr } of queries) {
    for (const [name] of expr.matchAll(/\bragmail_[a-z0-9_]+/g)) {
      const base = name.replace(/_(bucket|sum|count)$/, '');
      const known = exported.has(name) || (base !== name && ['histogram', 'summary'].includes(exported.get(base) ?? ''));
      assert.ok(known, `panel "${title}" queries ${name}, which no worker exports`);
    }
  }
  for (const name of [
    'ragmail_stage_events_total',
    'ragmail_stage_duration_seconds_bucket',
    'ragmail_queue_messages',
    'ragmail_llm_request_duration_seconds_bucket',
    'ragmail_llm_tokens_total',
    'ragmail_send_quota_remaining',
  ]) {
    assert.ok(
      queries.some(({ expr }) => expr.includes(name)),
      `the dashboard shows ${name}`,
    );
  }
  assert.ok(
    queries.some(({ expr }) => expr.includes('dead_letter')),
    'the dashboard shows dead letters',
  );

  // promtool parses PromQL in rule files; JSON is YAML, and Grafana's interval variable becomes a duration.
  const folder = mkdtempSync(path.join(tmpdir(), 'ragmail-'));
  context.after(() => rmSync(folder, { recursive: true, force: true }));
  const rules = path.join(folder, 'dashboard-rules.yml');
  writeFileSync(
    rules,
    JSON.stringify({
      groups: [
        {
          name: 'dashboard',
          rules: queries.map(({ expr }, index) => ({ record: `ragmail_dashboard:query_${index}`, expr: expr.replaceAll('$__rate_interval', '5m') })),
        },
      ],
    }),
  );
  const result = run(context, 'promtool', ['check', 'rules', rules]);
  if (!result) return;
  assert.equal(result.status, 0, `${result.stdout}${result.stderr}`);
  assert.match(result.stdout, new RegExp(`SUCCESS: ${queries.length} rules found`));
});

test('deploy/ runs every role as a Deployment with probes and a grace period, and scales each consumer role with KEDA on its queue', () => {
  const read = (file: string) => readFileSync(path.join(PROJECT_ROOT, 'deploy', file), 'utf8');
  const grace = Number(/SHUTDOWN_GRACE_MS: "(\d+)"/.exec(read('config.yaml'))?.[1]);
  assert.ok(grace > 0, 'config.yaml sets SHUTDOWN_GRACE_MS');
  for (const role of ROLE_NAMES) {
    const text = read(`${role}.yaml`);
    assert.match(text, /^kind: Deployment$/m, `${role}.yaml is a Deployment`);
    assert.match(text, new RegExp(`args: \\["worker", "--role=${role}"\\]`), `${role} runs its role`);
    assert.match(text, /readinessProbe:\s*\n\s*httpGet:\s*\n\s*path: \/readyz/, `${role} readiness on /readyz`);
    assert.match(text, /livenessProbe:\s*\n\s*httpGet:\s*\n\s*path: \/healthz/, `${role} liveness on /healthz`);
    const seconds = Number(/terminationGracePeriodSeconds: (\d+)/.exec(text)?.[1]);
    assert.ok(seconds * 1000 > grace, `${role}: terminationGracePeriodSeconds ${seconds} above SHUTDOWN_GRACE_MS ${grace}`);
    assert.match(text, /resources:\s*\n\s*requests:/, `${role} states its resources`);
    assert.match(
      text,
      new RegExp(`name: AMQP_URL\\s*\\n\\s*valueFrom:\\s*\\n\\s*secretKeyRef:\\s*\\n\\s*name: ragmail-broker\\s*\\n\\s*key: AMQP_URL_${role.toUpperCase()}\\n`),
      `${role} gets its own broker URL only`,
    );
    assert.match(
      read('config.yaml'),
      new RegExp(`AMQP_URL_${role.toUpperCase()}: amqp://ragmail-${role}:`),
      `AMQP_URL_${role.toUpperCase()} names the user ragmail-${role}`,
    );
  }
  assert.match(read('config.yaml'), /AMQP_TOPOLOGY: verify/, 'role users only verify the topology');
  // Loopback is the default: probes, Prometheus and the api's Service reach the pod's address.
  assert.match(read('config.yaml'), /^ {2}METRICS_HOST: 0\.0\.0\.0$/m, 'every role serves its probes beyond loopback');
  assert.match(read('api.yaml'), /- name: API_HOST\s*\n\s*value: 0\.0\.0\.0\n/, 'the api listens where its Service reaches it');
  assert.match(read('topology-job.yaml'), /args: \["topology"\][\s\S]*key: AMQP_URL_ADMIN/, 'the topology Job declares it as the admin');
  assert.match(
    read('topology-job.yaml'),
    /name: RABBITMQ_MANAGEMENT_URL\s*\n\s*valueFrom:\s*\n\s*secretKeyRef:\s*\n\s*name: ragmail-broker\s*\n\s*key: RABBITMQ_MANAGEMENT_URL_ADMIN\n/,
    'the topology Job sets the dead-letter retention as the admin',
  );
  assert.match(read('config.yaml'), /RABBITMQ_MANAGEMENT_URL_ADMIN: http:\/\/ragmail:/, 'the admin management URL is in ragmail-broker');
  const scaledObjects = read('keda.yaml')
    .split(/^---$/m)
    .filter((document) => /^kind: ScaledObject$/m.test(document));
  const scaled = new Map(scaledObjects.map((document) => [/scaleTargetRef:\s*\n\s*name: ragmail-(\S+)/.exec(document)?.[1], document]));
  assert.deepEqual([...scaled.keys()].sort(), Object.keys(CONSUMED).sort(), 'a ScaledObject per consumer role');
  for (const [role, document] of scaled) {
    assert.match(document, /type: rabbitmq/);
    assert.match(document, /mode: QueueLength/);
    assert.match(document, new RegExp(`queueName: ${CONSUMED[role as RoleName]!.replace('.', '\\.')}\\n`), `${role} scales on its own queue`);
  }
  assert.ok(Number(/maxReplicaCount: (\d+)/.exec(scaled.get('ingester')!)?.[1]) <= 2, 'at most two ingesters');
});

test('kustomize builds the Kubernetes example (where kubectl is installed; Debian does not package it)', (context) => {
  const built = run(context, 'kubectl', ['kustomize', 'deploy']);
  if (!built) return;
  assert.equal(built.status, 0, built.stderr);
  assert.equal([...built.stdout.matchAll(/^kind: Deployment$/gm)].length, ROLE_NAMES.length);
});

const POSTGRES_FILE = 'deploy/postgres/docker-compose.postgres.yml';

test('docker-compose config accepts the PostgreSQL example: a postgres service with a volume, a health check and its password from a secret file, and every role given DATABASE_URL, that password and a wait for it', (context) => {
  // The secret file is the operator's (the override's first comment makes it); config only needs it to exist.
  const secrets = path.join(PROJECT_ROOT, 'secrets');
  const made = !existsSync(secrets);
  mkdirSync(secrets, { recursive: true });
  const secretFile = path.join(secrets, 'postgres-password');
  const madeFile = !existsSync(secretFile);
  if (madeFile) writeFileSync(secretFile, 'not-a-real-password\n');
  try {
    const result = run(context, 'docker-compose', ['-f', COMPOSE_FILE, '-f', POSTGRES_FILE, 'config']);
    if (!result) return;
    assert.equal(result.status, 0, `docker-compose config failed:\n${result.stderr}`);
    const services = serviceBlocks(result.stdout);
    const postgres = services.get('postgres');
    assert.ok(postgres, 'a postgres service');
    const text = (block: string[]) => block.join('\n');
    assert.match(valuesOf(postgres, 'image')[0] ?? '', /^postgres:1[89]/, 'a supported PostgreSQL image');
    assert.match(text(postgres), /POSTGRES_PASSWORD_FILE: \/run\/secrets\/postgres-password/, 'its password from the secret');
    assert.match(text(postgres), /postgres-data:\/var\/lib\/postgresql/, 'its data in a volume');
    assert.match(text(postgres), /pg_isready/, 'a health check');
    const roles = [...services].filter(([, block]) => valuesOf(block, 'command')[0] === 'worker');
    assert.equal(roles.length, ROLE_NAMES.length, 'every role');
    for (const [name, block] of roles) {
      const environment = (key: string) => unquote(block.map((line) => new RegExp(`^ {6}${key}: (.*)$`).exec(line)?.[1]).find(Boolean) ?? '');
      const url = new URL(environment('DATABASE_URL'));
      assert.equal(url.protocol, 'postgres:', `${name} uses PostgreSQL`);
      assert.equal(url.password, '', `${name}: no password in the URL`);
      assert.equal(environment('DATABASE_PASSWORD_FILE'), '/run/secrets/postgres-password', `${name} reads the password from the secret`);
      assert.ok(text(block).includes('- source: postgres-password'), `${name} mounts the secret`);
      assert.ok(text(block).includes('postgres:\n        condition: service_healthy'), `${name} waits for PostgreSQL`);
    }
  } finally {
    if (madeFile) rmSync(secretFile);
    if (made) rmSync(secrets, { recursive: true, force: true });
  }
});

test('the Kubernetes PostgreSQL component unpins the api and sender, runs two recorders with a rolling update, and drops the single-node volume (where kubectl is installed)', (context) => {
  // An overlay beside deploy/ (kustomize refuses one inside the base it builds on).
  const overlay = mkdtempSync(path.join(PROJECT_ROOT, '.kustomize-'));
  try {
    const relative = path.relative(overlay, path.join(PROJECT_ROOT, 'deploy'));
    writeFileSync(path.join(overlay, 'kustomization.yaml'), `resources:\n  - ${relative}\ncomponents:\n  - ${relative}/postgres\n`);
    const built = run(context, 'kubectl', ['kustomize', overlay]);
    if (!built) return;
    assert.equal(built.status, 0, built.stderr);
    const documents = built.stdout.split(/^---$/m);
    assert.equal(documents.filter((document) => /^kind: Deployment$/m.test(document)).length, ROLE_NAMES.length);
    assert.doesNotMatch(built.stdout, /ragmail-activity/, 'nothing mounts or declares the ReadWriteOnce volume');
    assert.doesNotMatch(built.stdout, /podAffinity/, 'no role is pinned to another');
    assert.match(built.stdout, /DATABASE_URL: postgres:\/\//, 'every role reads DATABASE_URL from ragmail-secrets');
    const api = documents.find((document) => /^kind: Deployment$/m.test(document) && /name: ragmail-api$/m.test(document));
    assert.match(api ?? '', /^ {2}replicas: 2$/m, 'the api runs two replicas');
    const recorder = documents.find((document) => /^kind: Deployment$/m.test(document) && /name: ragmail-recorder$/m.test(document));
    assert.match(recorder ?? '', /^ {2}replicas: 2$/m, 'two recorders: one projects, one stands by');
    assert.match(recorder ?? '', /^ {4}type: RollingUpdate$/m, 'the recorder rolls over rather than being recreated');
  } finally {
    rmSync(overlay, { recursive: true, force: true });
  }
});
