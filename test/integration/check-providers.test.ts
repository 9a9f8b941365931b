/**
 * `check-providers` against the real RabbitMQ and Redis and the loopback fakes of the cloud APIs:
 * good credentials give a row `ok` per configured provider, a refused key or a missing one gives a
 * `failed` row that says what to fix (and the command exits 1), and the embedded defaults pass
 * with no key at all.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { checkProviders, type ProviderCheckRow } from '../../src/app/provider-checks.js';
import { formatProviderTable } from '../../src/cli/check-providers.js';
import { loadConfig } from '../../src/app/config.js';
import { createLogger } from '../../src/lib/log.js';
import { createTestVhost, type TestVhost } from '../helpers/broker.js';
import { PROJECT_ROOT } from '../helpers/worker-process.js';
import { CLOUD_MAILBOX, startCloudStack } from '../helpers/cloud-stack.js';
import { startFakeOpenAI } from '../fakes/openai-server.js';

const rowKey = (row: ProviderCheckRow) => `${row.provider} ${row.kind}`;

/** The environment a spawned command needs to reach the test vhost and keep its files in the test's folder. */
function vhostEnvironment(vhost: TestVhost): Record<string, string> {
  return { AMQP_URL: vhost.config.AMQP_URL, RABBITMQ_MANAGEMENT_URL: vhost.config.RABBITMQ_MANAGEMENT_URL, DATA_DIR: vhost.dataDir };
}

/** Runs `tsx src/cli/index.ts check-providers` with only `environment` (plus PATH and HOME). */
function runCheckProviders(environment: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(PROJECT_ROOT, 'node_modules/.bin/tsx'), ['src/cli/index.ts', 'check-providers'], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'error', LOG_FORMAT: 'json', ...environment },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The table's row for `provider` and `kind`, split on the column gaps. */
function tableRow(stdout: string, provider: string, kind: string): string[] | undefined {
  return stdout
    .split('\n')
    .map((line) => line.split(/\s{2,}/))
    .find((cells) => cells[0] === provider && cells[1] === kind);
}

test('with the fakes and good keys every configured provider is checked and ok', { timeout: 60_000 }, async () => {
  const stack = await startCloudStack();
  const vhost = await createTestVhost(stack.environment);
  try {
    const rows = await checkProviders(vhost.config, vhost.logger);
    assert.deepEqual(rows.map(rowKey), [
      'rabbitmq broker',
      'rabbitmq management api',
      'gemini llm',
      'anthropic llm',
      'local llm',
      'gemini embeddings',
      'pinecone vector store',
      'gmail mailbox',
      'redis cache, send claims',
    ]);
    for (const row of rows) assert.equal(row.status, 'ok', `${rowKey(row)}: ${row.detail}`);
    for (const row of rows.filter((row) => row.provider !== 'local')) assert.ok(typeof row.latencyMs === 'number' && row.latencyMs >= 0, rowKey(row));
    const detailOf = (key: string) => rows.find((row) => rowKey(row) === key)?.detail ?? '';
    assert.match(detailOf('gmail mailbox'), new RegExp(CLOUD_MAILBOX));
    assert.match(detailOf('pinecone vector store'), /dimension 768, cosine/);
    assert.match(detailOf('gemini embeddings'), /768-dimension/);
    assert.match(detailOf('redis cache, send claims'), /PONG/);
    // Each check really reached its service.
    assert.ok(
      stack.gmail.requests.some((request) => request.path.endsWith('/profile')),
      'Gmail profile read',
    );
    assert.ok(
      stack.pinecone.requests.some((request) => request.path === '/indexes/ragmail'),
      'Pinecone index described',
    );
    assert.ok(
      stack.anthropic.requests.some((request) => request.path.startsWith('/v1/models/')),
      'Claude model looked up',
    );
    assert.ok(
      stack.gemini.requests.some((request) => request.path.endsWith(':batchEmbedContents')),
      'Gemini embedding made',
    );
    assert.match(formatProviderTable(rows), /^PROVIDER\s+KIND\s+STATUS\s+LATENCY\s+DETAIL\n/);
  } finally {
    await vhost.cleanup();
    await stack.close();
  }
});

test('a refused Gemini key fails the gemini rows with the reason, and the command prints the table and exits 1', { timeout: 60_000 }, async () => {
  const stack = await startCloudStack();
  const vhost = await createTestVhost();
  try {
    const result = await runCheckProviders({ ...stack.environment, ...vhostEnvironment(vhost), GEMINI_API_KEY: 'a-wrong-key' });
    assert.equal(result.code, 1, `exit code; stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
    assert.match(result.stdout, /^PROVIDER\s+KIND\s+STATUS\s+LATENCY\s+DETAIL$/m);
    const gemini = tableRow(result.stdout, 'gemini', 'llm');
    assert.ok(gemini, result.stdout);
    assert.equal(gemini[2], 'failed');
    assert.match(gemini.slice(4).join('  '), /llm_\w+: .*API key not valid/, 'the provider says why');
    assert.equal(tableRow(result.stdout, 'gemini', 'embeddings')?.[2], 'failed', 'the embedder uses the same key');
    for (const [provider, kind] of [
      ['rabbitmq', 'broker'],
      ['anthropic', 'llm'],
      ['pinecone', 'vector store'],
      ['gmail', 'mailbox'],
      ['redis', 'cache, send claims'],
    ]) {
      assert.equal(tableRow(result.stdout, provider, kind)?.[2], 'ok', `${provider} ${kind} is unaffected`);
    }
    assert.doesNotMatch(result.stdout + result.stderr, /^\s+at /m, 'no stack trace');
    assert.doesNotMatch(result.stdout + result.stderr, /a-wrong-key/, 'the key is not printed');
  } finally {
    await vhost.cleanup();
    await stack.close();
  }
});

test('a missing key shows as failed with the variable to set, before any request', { timeout: 30_000 }, async () => {
  const stack = await startCloudStack();
  const dataDir = mkdtempSync(path.join(tmpdir(), 'ragmail-'));
  try {
    const { GEMINI_API_KEY: _unset, GMAIL_REFRESH_TOKEN: _alsoUnset, ...environment } = stack.environment;
    // Nothing listens on port 1: the broker row fails within its short timeout, not the default 30 s.
    const config = loadConfig({ ...environment, DATA_DIR: dataDir, AMQP_CONNECT_TIMEOUT_MS: '500', AMQP_URL: 'amqp://guest:guest@127.0.0.1:1' });
    const rows = await checkProviders(config, createLogger({ level: 'error', format: 'json', role: 'test' }));
    const row = (key: string) => rows.find((candidate) => rowKey(candidate) === key);
    assert.equal(row('gemini llm')?.status, 'failed');
    assert.equal(row('gemini llm')?.latencyMs, null);
    assert.match(row('gemini llm')?.detail ?? '', /needs GEMINI_API_KEY: set it in the environment/);
    assert.match(row('gmail mailbox')?.detail ?? '', /GMAIL_REFRESH_TOKEN/);
    assert.match(row('rabbitmq broker')?.detail ?? '', /No RabbitMQ answered .* within 500 ms/);
    assert.equal(stack.gemini.requests.length, 0, 'nothing was sent to Gemini');
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    await stack.close();
  }
});

test('the embedded defaults need no key: every configured provider ok, the rest skipped, exit 0', { timeout: 60_000 }, async () => {
  const vhost = await createTestVhost();
  try {
    const rows = await checkProviders(vhost.config, vhost.logger);
    assert.deepEqual(
      rows.map((row) => `${rowKey(row)}: ${row.status}`),
      [
        'rabbitmq broker: ok',
        'rabbitmq management api: ok',
        'local llm: ok',
        'none embeddings: skipped',
        'sqlite vector store: ok',
        'maildir mailbox: ok',
        'redis cache, send claims: skipped',
      ],
      JSON.stringify(rows, null, 1),
    );
    const result = await runCheckProviders(vhostEnvironment(vhost));
    assert.equal(result.code, 0, `stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
    assert.equal(tableRow(result.stdout, 'maildir', 'mailbox')?.[2], 'ok');
  } finally {
    await vhost.cleanup();
  }
});

test(
  'an OpenAI-compatible server (a local one: base URL, no key) is checked as llm and embeddings; a refused key fails with the reason',
  { timeout: 60_000 },
  async () => {
    const server = await startFakeOpenAI({ embeddingDimensions: 768 });
    const guarded = await startFakeOpenAI({ apiKey: 'sk-right' });
    const vhost = await createTestVhost({
      LLM_PROVIDERS: 'openai,local',
      OPENAI_BASE_URL: `${server.url}/v1`,
      OPENAI_MODEL: 'qwen3:8b',
      EMBEDDING_PROVIDER: 'openai',
      OPENAI_EMBEDDING_MODEL: 'nomic-embed-text',
    });
    try {
      const rows = await checkProviders(vhost.config, vhost.logger);
      const row = (key: string) => rows.find((candidate) => rowKey(candidate) === key);
      assert.equal(row('openai llm')?.status, 'ok', row('openai llm')?.detail);
      assert.match(row('openai llm')!.detail, /model qwen3:8b is available at http:\/\/127\.0\.0\.1/);
      assert.equal(row('openai embeddings')?.status, 'ok', row('openai embeddings')?.detail);
      assert.match(row('openai embeddings')!.detail, /nomic-embed-text returns 768-dimension vectors/);
      assert.ok(server.requests.some((request) => request.path === '/v1/models/qwen3:8b'));

      const refused = await checkProviders({ ...vhost.config, OPENAI_BASE_URL: `${guarded.url}/v1`, OPENAI_API_KEY: 'sk-wrong' }, vhost.logger);
      const failed = refused.find((candidate) => rowKey(candidate) === 'openai llm');
      assert.equal(failed?.status, 'failed');
      assert.match(failed!.detail, /llm_unauthorized.*HTTP 401 invalid_api_key/);
    } finally {
      await vhost.cleanup();
      await server.close();
      await guarded.close();
    }
  },
);
