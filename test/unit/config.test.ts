import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConfigError, environmentSchema, loadConfig, sendModeOf } from '../../src/config.js';

test('defaults apply when the environment is empty, and paths derive from DATA_DIR', () => {
  const config = loadConfig({ DATA_DIR: '/srv/ragmail' });
  assert.equal(config.MAX_ATTEMPTS, 3);
  assert.equal(config.CONCURRENCY_INGESTER, 1);
  assert.equal(config.DATABASE_PATH, '/srv/ragmail/ragmail.db');
  assert.equal(config.MAILDIR_ROOT, '/srv/ragmail/maildir');
  assert.deepEqual(config.llmProviders, ['local']);
});

test('a wrong value is refused with the variable name and what it accepts', () => {
  assert.throws(() => loadConfig({ MAX_ATTEMPTS: 'three', SEND_POLICY: 'yolo' }), (error: unknown) => {
    assert.ok(error instanceof ConfigError);
    assert.match(error.message, /MAX_ATTEMPTS="three"/);
    assert.match(error.message, /SEND_POLICY="yolo".*auto.*draft.*review.*shadow/);
    return true;
  });
  assert.throws(() => loadConfig({ LLM_PROVIDERS: 'local,openai' }), /LLM_PROVIDERS="local,openai": a comma-separated list of local, gemini, anthropic/);
  assert.throws(() => loadConfig({ CHUNK_SIZE: '200', CHUNK_OVERLAP: '300' }), /CHUNK_OVERLAP=300: must be smaller than CHUNK_SIZE/);
});

test('per-mailbox send policies override the default', () => {
  const config = loadConfig({ SEND_POLICY: 'draft', MAILBOX_POLICIES: 'Support@Acme.example=auto, help@globex.example=shadow' });
  assert.equal(sendModeOf(config, 'support@acme.example'), 'auto');
  assert.equal(sendModeOf(config, 'help@globex.example'), 'shadow');
  assert.equal(sendModeOf(config, 'other@x.example'), 'draft');
});

test('.env.example lists every variable with its default', () => {
  const lines = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8').split('\n').filter((line) => /^[A-Z_]+=/.test(line));
  const listed = new Map(lines.map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]));
  assert.deepEqual([...listed.keys()].sort(), Object.keys(environmentSchema.shape).sort());
  const defaults = environmentSchema.parse({});
  for (const [name, value] of listed) {
    if (value !== '') assert.equal(String(defaults[name as keyof typeof defaults]), value, `${name} default in .env.example`);
  }
});
