import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError, SECRET_VARIABLES, environmentSchema, loadConfig } from '../../src/app/config.js';
import { decisionPolicyOf, replySettingsOf, sendModeOf } from '../../src/features/send-policy.js';

test('defaults apply when the environment is empty, and paths derive from DATA_DIR', () => {
  const config = loadConfig({ DATA_DIR: '/srv/ragmail' });
  assert.equal(config.MAX_ATTEMPTS, 3);
  assert.equal(config.CONCURRENCY_INGESTER, 1);
  assert.equal(config.DATABASE_PATH, '/srv/ragmail/ragmail.db');
  assert.equal(config.MAILDIR_ROOT, '/srv/ragmail/maildir');
  assert.deepEqual(config.llmProviders, ['local']);
});

test('a wrong value is refused with the variable name and what it accepts', () => {
  assert.throws(
    () => loadConfig({ MAX_ATTEMPTS: 'three', SEND_POLICY: 'yolo' }),
    (error: unknown) => {
      assert.ok(error instanceof ConfigError);
      assert.match(error.message, /MAX_ATTEMPTS="three"/);
      assert.match(error.message, /SEND_POLICY="yolo".*auto.*draft.*review.*shadow/);
      return true;
    },
  );
  assert.throws(
    () => loadConfig({ LLM_PROVIDERS: 'local,chatgpt' }),
    /LLM_PROVIDERS="local,chatgpt": a comma-separated list of local, gemini, anthropic, openai/,
  );
  assert.throws(() => loadConfig({ CHUNK_SIZE: '200', CHUNK_OVERLAP: '300' }), /CHUNK_OVERLAP=300: must be smaller than CHUNK_SIZE/);
});

test('per-mailbox send policies override the default', () => {
  const config = loadConfig({ SEND_POLICY: 'draft', MAILBOX_POLICIES: 'Support@Acme.example=auto, help@globex.example=shadow' });
  assert.equal(sendModeOf(config, 'support@acme.example'), 'auto');
  assert.equal(sendModeOf(config, 'help@globex.example'), 'shadow');
  assert.equal(sendModeOf(config, 'other@x.example'), 'draft');
});

test('.env.example lists every variable with its default', () => {
  const lines = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8')
    .split('\n')
    .filter((line) => /^[A-Z][A-Z0-9_]*=/.test(line));
  const listed = new Map(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  assert.deepEqual([...listed.keys()].sort(), Object.keys(environmentSchema.shape).sort());
  const defaults = environmentSchema.parse({});
  for (const [name, value] of listed) {
    if (value !== '') assert.equal(String(defaults[name as keyof typeof defaults]), value, `${name} default in .env.example`);
  }
});

test("reply settings: a mailbox's own signature and manuals URL before the defaults; bad settings are refused", () => {
  const config = loadConfig({
    REPLY_SIGNATURE: 'Kind regards,\\nThe Support Team',
    MANUALS_PUBLIC_URL: 'https://docs.example.com/{document}#page={page}',
    MAILBOX_SETTINGS: '{"Support@Acme.example": {"signature": "Acme Support", "manuals_url": "https://acme.example/m/{document}?p={page}"}}',
  });
  assert.deepEqual(replySettingsOf(config, 'support@acme.example'), { signature: 'Acme Support', manualsUrl: 'https://acme.example/m/{document}?p={page}' });
  assert.deepEqual(replySettingsOf(config, 'help@globex.example'), {
    signature: 'Kind regards,\nThe Support Team',
    manualsUrl: 'https://docs.example.com/{document}#page={page}',
  });
  assert.equal(replySettingsOf(loadConfig({}), 'a@b.example').manualsUrl, undefined);
  assert.throws(
    () => loadConfig({ MAILBOX_SETTINGS: '{"support@acme.example": {"sig": "x"}}' }),
    /MAILBOX_SETTINGS=.*address → \{signature\?, manuals_url\?\}/,
  );
  assert.throws(() => loadConfig({ MAILBOX_SETTINGS: 'support@acme.example=Acme' }), /MAILBOX_SETTINGS=.*a JSON object/);
  assert.throws(() => loadConfig({ MANUALS_PUBLIC_URL: 'https://docs.example.com/' }), /MANUALS_PUBLIC_URL=.*containing \{document\}/);
});

test('the decision thresholds come from the AUTO_SEND_* variables', () => {
  const policy = decisionPolicyOf(
    loadConfig({
      AUTO_SEND_MIN_CONFIDENCE: '0.8',
      AUTO_SEND_MIN_SCORE: '0.4',
      AUTO_SEND_MIN_MARGIN: '-0.1',
      AUTO_SEND_MIN_COVERAGE: '0.3',
      AUTO_SEND_MIN_MODEL_CONFIDENCE: '0.6',
    }),
  );
  assert.deepEqual(policy, {
    draftProviders: ['local'],
    minClassificationConfidence: 0.8,
    minRelevance: 0.4,
    minMargin: -0.1,
    minCoverage: 0.3,
    minModelConfidence: 0.6,
  });
});

test('SEND_POLICY unset: draft with the local model first, auto with a remote one; a set value wins', () => {
  assert.equal(loadConfig({}).SEND_POLICY, 'draft');
  assert.equal(loadConfig({ LLM_PROVIDERS: 'local,gemini' }).SEND_POLICY, 'draft');
  assert.equal(loadConfig({ LLM_PROVIDERS: 'gemini,local' }).SEND_POLICY, 'auto');
  assert.equal(loadConfig({ LLM_PROVIDERS: 'anthropic', SEND_POLICY: 'review' }).SEND_POLICY, 'review');
  assert.equal(loadConfig({ SEND_POLICY: 'auto' }).SEND_POLICY, 'auto');
});

test('with SEND_POLICY unset the local model stays a drafter as a fallback; set, it is judged like any model', () => {
  assert.deepEqual(decisionPolicyOf(loadConfig({ LLM_PROVIDERS: 'gemini,local' })).draftProviders, ['local']);
  assert.deepEqual(decisionPolicyOf(loadConfig({ LLM_PROVIDERS: 'gemini,local', SEND_POLICY: 'auto' })).draftProviders, []);
});

test('AMQP_URL must be an amqp:// or amqps:// URL with a host; the problem names the variable and never shows the password', () => {
  for (const wrong of ['localhost:5672', 'http://guest:guest@127.0.0.1:5672', 'amqp://', 'rabbitmq']) {
    assert.throws(
      () => loadConfig({ AMQP_URL: wrong }),
      (error: unknown) => error instanceof ConfigError && /AMQP_URL=.*: an amqp:\/\/ or amqps:\/\/ URL with a host/.test(error.message),
      wrong,
    );
  }
  assert.throws(
    () => loadConfig({ AMQP_URL: 'ampq://ragmail:s3cret-pass@rabbitmq:5672/ragmail' }),
    (error: unknown) =>
      error instanceof ConfigError && error.message.includes('AMQP_URL="ampq://ragmail:***@rabbitmq') && !error.message.includes('s3cret-pass'),
  );
  assert.equal(loadConfig({ AMQP_URL: 'amqps://user:pw@broker.example:5671/ragmail' }).AMQP_URL, 'amqps://user:pw@broker.example:5671/ragmail');
  assert.equal(loadConfig({ AMQP_URL: 'amqp://rabbitmq' }).AMQP_URL, 'amqp://rabbitmq');
});

test("AMQP_URL may list a cluster's nodes, comma separated, of one scheme and one vhost; every password in a refused list is masked", () => {
  const config = loadConfig({ AMQP_URL: 'amqp://u:p@rabbit1:5672/ragmail, amqp://u:p@rabbit2:5672/ragmail,amqp://u:p@rabbit3:5672/ragmail' });
  assert.deepEqual(config.amqpUrls, ['amqp://u:p@rabbit1:5672/ragmail', 'amqp://u:p@rabbit2:5672/ragmail', 'amqp://u:p@rabbit3:5672/ragmail']);
  assert.equal(config.AMQP_URL, 'amqp://u:p@rabbit1:5672/ragmail', 'AMQP_URL is the first node (its vhost and user name the target in messages)');
  assert.deepEqual(loadConfig({}).amqpUrls, ['amqp://guest:guest@127.0.0.1:5672']);
  for (const wrong of [
    'amqp://u:first-secret@rabbit1:5672/ragmail,amqp://u:second-secret@rabbit2:5672/other',
    'amqp://u:first-secret@rabbit1:5672/ragmail,amqps://u:second-secret@rabbit2:5671/ragmail',
    'amqp://u:first-secret@rabbit1:5672/ragmail,rabbit2:5672',
  ]) {
    assert.throws(
      () => loadConfig({ AMQP_URL: wrong }),
      (error: unknown) =>
        error instanceof ConfigError &&
        /AMQP_URL=.*one scheme, one vhost/.test(error.message) &&
        !error.message.includes('first-secret') &&
        !error.message.includes('second-secret'),
      wrong,
    );
  }
});

test('DATABASE_URL is empty (SQLite) or a postgres:// URL; another scheme is refused without showing the URL', () => {
  assert.equal(loadConfig({}).DATABASE_URL, '');
  assert.equal(loadConfig({ DATABASE_URL: 'postgresql://ragmail:pw@db:5432/ragmail' }).DATABASE_URL, 'postgresql://ragmail:pw@db:5432/ragmail');
  assert.throws(
    () => loadConfig({ DATABASE_URL: 'mysql://ragmail:s3cret@db/ragmail' }),
    (error: Error) => /DATABASE_URL.*postgres:\/\//.test(error.message) && !error.message.includes('s3cret'),
  );
});

test('DATABASE_PASSWORD is the password of a DATABASE_URL without one, percent-encoded; refused with a URL that has one or without DATABASE_URL, never showing it', () => {
  const url = 'postgres://ragmail@db:5432/ragmail';
  assert.equal(loadConfig({ DATABASE_URL: url, DATABASE_PASSWORD: 's3cret' }).DATABASE_URL, 'postgres://ragmail:s3cret@db:5432/ragmail');
  const awkward = 'p@ss:w/rd%?#';
  const combined = new URL(loadConfig({ DATABASE_URL: url, DATABASE_PASSWORD: awkward }).DATABASE_URL);
  assert.deepEqual([decodeURIComponent(combined.password), combined.hostname, combined.pathname], [awkward, 'db', '/ragmail']);
  assert.equal(loadConfig({ DATABASE_URL: url }).DATABASE_URL, url, 'no password: the URL as given');
  const refused = (variables: Record<string, string>, expected: RegExp) =>
    assert.throws(
      () => loadConfig(variables),
      (error: unknown) => error instanceof ConfigError && expected.test(error.message) && !/s3cret|other-secret/.test(error.message),
      String(expected),
    );
  refused(
    { DATABASE_URL: 'postgres://ragmail:other-secret@db:5432/ragmail', DATABASE_PASSWORD: 's3cret' },
    /DATABASE_URL=.*\*\*\*.*DATABASE_PASSWORD gives another/,
  );
  refused({ DATABASE_PASSWORD: 's3cret' }, /DATABASE_PASSWORD is set without DATABASE_URL/);
});

test('QUEUE_TYPE is classic unless set to quorum; anything else is refused', () => {
  assert.equal(loadConfig({}).QUEUE_TYPE, 'classic');
  assert.equal(loadConfig({ QUEUE_TYPE: 'quorum' }).QUEUE_TYPE, 'quorum');
  assert.throws(() => loadConfig({ QUEUE_TYPE: 'mirrored' }), /QUEUE_TYPE="mirrored".*classic.*quorum/);
});

test('every secret variable can come from <NAME>_FILE (Docker and Kubernetes secrets): the content without its trailing line break; both set, an unreadable or an empty file is a ConfigError that never shows the secret', () => {
  const folder = mkdtempSync(path.join(tmpdir(), 'ragmail-secrets-'));
  try {
    const secretFile = (name: string, content: string) => {
      const file = path.join(folder, name);
      writeFileSync(file, content);
      return file;
    };
    const values: Record<(typeof SECRET_VARIABLES)[number], string> = {
      AMQP_URL: 'amqps://ragmail-poller:s3cret@rabbitmq:5671/ragmail',
      AMQP_KEY_PASSPHRASE: 'key passphrase',
      RABBITMQ_MANAGEMENT_URL: 'http://ragmail-monitor:s3cret@rabbitmq:15672',
      REDIS_URL: 'redis://:s3cret@redis:6379',
      DATABASE_URL: 'postgres://ragmail@postgres:5432/ragmail',
      DATABASE_PASSWORD: 's3cret',
      API_TOKENS: 'admin=0123456789abcdefghijklmnopqrstuvwxyz',
      GEMINI_API_KEY: 'AIza-gemini-key',
      ANTHROPIC_API_KEY: 'sk-ant-key',
      OPENAI_API_KEY: 'sk-openai-key',
      PINECONE_API_KEY: 'pcsk-key',
      GMAIL_CLIENT_SECRET: 'GOCSPX-secret',
      GMAIL_REFRESH_TOKEN: '1//refresh-token',
      IMAP_PASSWORD: 'imap password',
      IMAP_ACCESS_TOKEN: 'ya29.access-token',
      IMAP_OAUTH2_CLIENT_SECRET: 'imap client secret',
      IMAP_OAUTH2_REFRESH_TOKEN: '1//imap-refresh-token',
      SMTP_PASSWORD: 'smtp password',
    };
    const env = Object.fromEntries(Object.entries(values).map(([name, value]) => [`${name}_FILE`, secretFile(name, `${value}\n`)]));
    const config = loadConfig(env);
    for (const [name, value] of Object.entries(values)) {
      // The URL is given without a password; the config's holds DATABASE_PASSWORD's.
      const expected = name === 'DATABASE_URL' ? 'postgres://ragmail:s3cret@postgres:5432/ragmail' : value;
      assert.equal(config[name as keyof typeof values], expected, name);
    }
    assert.deepEqual(
      config.apiTokens,
      [{ name: 'admin', token: '0123456789abcdefghijklmnopqrstuvwxyz' }],
      'a secret from a file is parsed as one set directly',
    );
    assert.equal(loadConfig({ GEMINI_API_KEY_FILE: secretFile('crlf', 'key with spaces \r\n\n') }).GEMINI_API_KEY, 'key with spaces ');

    const refused = (variables: Record<string, string>, expected: RegExp) =>
      assert.throws(
        () => loadConfig(variables),
        (error: unknown) => error instanceof ConfigError && expected.test(error.message) && !/s3cret|sk-ant|AIza/.test(error.message),
        String(expected),
      );
    refused(
      { ANTHROPIC_API_KEY: 'sk-ant-direct', ANTHROPIC_API_KEY_FILE: env.ANTHROPIC_API_KEY_FILE },
      /ANTHROPIC_API_KEY and ANTHROPIC_API_KEY_FILE are both set/,
    );
    refused({ GEMINI_API_KEY_FILE: path.join(folder, 'missing') }, /GEMINI_API_KEY_FILE=".*missing": cannot read the file \(ENOENT\)/);
    refused({ API_TOKENS_FILE: secretFile('empty', '\n') }, /API_TOKENS_FILE=".*empty": the file is empty/);
    refused({ AMQP_URL_FILE: secretFile('bad-url', 'localhost:5672\n') }, /AMQP_URL="localhost:5672": an amqp:\/\/ or amqps:\/\/ URL/);
    refused({ AMQP_URL_FILE: secretFile('bad-url-password', 'guest:s3cret@localhost:5672\n') }, /AMQP_URL=\(hidden\): an amqp/);
    // A variable outside the list keeps its value: `_FILE` is for secrets only.
    assert.equal(loadConfig({ LOG_LEVEL_FILE: secretFile('level', 'debug') }).LOG_LEVEL, 'info');
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('the example passwords of the stack stop the boot unless RAGMAIL_DEMO=true; guest/guest and real passwords do not', () => {
  const refused = (variables: Record<string, string>, names: RegExp) =>
    assert.throws(
      () => loadConfig(variables),
      (error: unknown) => error instanceof ConfigError && names.test(error.message) && /RAGMAIL_DEMO=true/.test(error.message),
      JSON.stringify(variables),
    );
  refused({ AMQP_URL: 'amqp://ragmail-poller:change-me-poller@rabbitmq:5672/ragmail' }, /AMQP_URL: an example password/);
  refused(
    { AMQP_URL: 'amqp://ragmail:ragmail@127.0.0.1:5672/ragmail', RABBITMQ_MANAGEMENT_URL: 'http://ragmail:ragmail@127.0.0.1:15672' },
    /AMQP_URL, RABBITMQ_MANAGEMENT_URL:/,
  );
  refused({ RABBITMQ_MANAGEMENT_URL: 'http://ragmail-monitor:change-me-monitor@rabbitmq:15672' }, /RABBITMQ_MANAGEMENT_URL:/);
  refused({ GRAFANA_ADMIN_PASSWORD: 'change-me-grafana' }, /GRAFANA_ADMIN_PASSWORD:/);
  refused({ GEMINI_API_KEY: 'change-me' }, /GEMINI_API_KEY:/);
  const folder = mkdtempSync(path.join(tmpdir(), 'ragmail-secrets-'));
  try {
    const file = path.join(folder, 'amqp-url');
    writeFileSync(file, 'amqp://ragmail-api:change-me-api@rabbitmq:5672/ragmail\n');
    refused({ AMQP_URL_FILE: file }, /AMQP_URL:/);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }

  const demo = loadConfig({ AMQP_URL: 'amqp://ragmail:ragmail@127.0.0.1:5672/ragmail', GRAFANA_ADMIN_PASSWORD: 'change-me-grafana', RAGMAIL_DEMO: 'true' });
  assert.equal(demo.RAGMAIL_DEMO, true);
  assert.equal(loadConfig({}).RAGMAIL_DEMO, false);
  // Not the stack's: RabbitMQ's own guest (tests, a fresh local broker), the admin user with another password, any real one.
  loadConfig({ AMQP_URL: 'amqp://guest:guest@127.0.0.1:5672', RABBITMQ_MANAGEMENT_URL: 'http://guest:guest@127.0.0.1:15672' });
  loadConfig({ AMQP_URL: 'amqp://ragmail:Zq8-long-and-random@rabbitmq:5672/ragmail', GRAFANA_ADMIN_PASSWORD: 'a-real-one' });
  // API_TOKENS' placeholder stays refused even in a demo, with its own message (an empty API_TOKENS makes a real token).
  assert.throws(
    () => loadConfig({ RAGMAIL_DEMO: 'true', API_TOKENS: 'admin=change-me-to-a-long-random-token' }),
    /API_TOKENS: the token of admin is the example placeholder/,
  );
});
