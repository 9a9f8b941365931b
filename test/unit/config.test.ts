import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ConfigError, environmentSchema, loadConfig } from '../../src/app/config.js';
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
    .filter((line) => /^[A-Z_]+=/.test(line));
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
