/**
 * How the api role starts `npm run eval` (src/app/evaluation-command.ts): the CLI of the build it
 * runs from (dist's JavaScript alone, or the sources through tsx), with the variables its own
 * configuration was parsed from.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { environmentOf, loadConfig } from '../../src/app/config.js';
import { evaluationCommand } from '../../src/app/evaluation-command.js';

const variables = { DATA_DIR: '/srv/ragmail', LLM_PROVIDERS: 'local', GEMINI_API_KEY_FILE: '/run/secrets/gemini' };

test('from dist/ the child is node dist/cli/index.js eval, without tsx (the image has none)', () => {
  const config = loadConfig({ DATA_DIR: '/srv/ragmail' });
  const command = evaluationCommand(config, 'file:///app/dist/app/evaluation-command.js');
  assert.equal(command.command, process.execPath);
  assert.deepEqual(command.args, ['/app/dist/cli/index.js', 'eval']);
});

test('from the sources the child is node --import <tsx> src/cli/index.ts eval, tsx found from the module, not the working directory', () => {
  const config = loadConfig({ DATA_DIR: '/srv/ragmail' });
  const moduleUrl = new URL('../../src/app/evaluation-command.ts', import.meta.url).href;
  const command = evaluationCommand(config, moduleUrl);
  assert.equal(command.args[0], '--import');
  assert.match(command.args[1], /^file:\/\/.*\/tsx\/.*\.mjs$/);
  assert.ok(existsSync(fileURLToPath(command.args[1])));
  assert.equal(command.args[2], fileURLToPath(new URL('../../src/cli/index.ts', import.meta.url)));
  assert.ok(existsSync(command.args[2]));
  assert.equal(command.args[3], 'eval');
});

test("the child gets the variables the api's configuration was parsed from, a secret still as its _FILE name", () => {
  const config = loadConfig({ ...variables, GEMINI_API_KEY_FILE: fileURLToPath(import.meta.url) });
  const command = evaluationCommand(config, 'file:///app/dist/app/evaluation-command.js');
  assert.deepEqual(command.env, { ...variables, GEMINI_API_KEY_FILE: fileURLToPath(import.meta.url) });
  assert.equal('GEMINI_API_KEY' in command.env, false);
});

test('a configuration not made by loadConfig has no environment to hand on, and says so', () => {
  const config = loadConfig({});
  assert.deepEqual(environmentOf(config), {});
  assert.throws(() => environmentOf({ ...config }), /not made by loadConfig/);
});
