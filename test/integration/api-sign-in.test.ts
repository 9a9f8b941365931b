/**
 * The API's doors against a guesser and a passer-by: wrong tokens throttled per client address
 * and logged without the token, weak and placeholder tokens refused at boot, the API and the
 * metrics on loopback unless asked otherwise, the page's Content-Security-Policy, and a generated
 * token that never reaches the logs.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import path from 'node:path';
import { loadConfig, MIN_API_TOKEN_LENGTH } from '../../src/app/config.js';
import { tokenFileOf } from '../../src/http/api/tokens.js';
import { createTestVhost, waitFor } from '../helpers/broker.js';
import { spawnApiProcess } from '../helpers/api-process.js';
import { withPipeline } from '../helpers/pipeline.js';
import { captureWarnings } from '../helpers/log-capture.js';
import { PROJECT_ROOT } from '../helpers/worker-process.js';

/**
 * GET `<url><route>` with `token`, from the local address `from` (127.0.0.0/8 is all loopback on
 * Linux), saying it forwards for `forwardedFor` (X-Forwarded-For) when given.
 */
function getFrom(
  url: string,
  route: string,
  token: string,
  from = '127.0.0.1',
  forwardedFor?: string,
): Promise<{ status: number; retryAfter?: string; body: Record<string, unknown> }> {
  const headers = { authorization: `Bearer ${token}`, ...(forwardedFor ? { 'x-forwarded-for': forwardedFor } : {}) };
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${url}${route}`, { localAddress: from, headers, agent: false }, (response) => {
      let text = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        text += chunk;
      });
      response.once('end', () =>
        resolve({ status: response.statusCode ?? 0, retryAfter: response.headers['retry-after'], body: JSON.parse(text) as Record<string, unknown> }),
      );
    });
    request.once('error', reject);
    request.end();
  });
}

test(
  'a burst of wrong tokens is throttled per client address: 10 get 401 and a warning with the address (never the token), then 429 with Retry-After; the right token still gets in from that address and from another',
  { timeout: 120_000 },
  async () => {
    await withPipeline(['api'], {}, async (pipeline) => {
      const { apiUrl: url = '', apiToken: token = '' } = pipeline;
      const warnings = captureWarnings(pipeline.vhost.logger);
      const guesses = Array.from({ length: 200 }, (_, index) => `guess-${index}-${'x'.repeat(24)}`);
      const answers = await Promise.all(guesses.map((guess) => getFrom(url, '/api/me', guess)));
      const statuses = answers.map((answer) => answer.status);
      assert.equal(statuses.filter((status) => status === 401).length, 10, `401s of ${statuses.join(',')}`);
      assert.equal(statuses.filter((status) => status === 429).length, guesses.length - 10);
      const throttled = answers.find((answer) => answer.status === 429)!;
      assert.equal(throttled.body.code, 'too_many_sign_in_failures');
      assert.ok(Number(throttled.retryAfter) >= 1 && Number(throttled.retryAfter) <= 60, `Retry-After ${throttled.retryAfter}`);

      // Operators behind one proxy share the guesser's address: the right token still gets in, a wrong one does not.
      const sameAddress = await getFrom(url, '/api/me', token);
      assert.deepEqual([sameAddress.status, sameAddress.body], [200, { name: 'tester' }]);
      assert.equal((await getFrom(url, '/api/me', 'still-wrong-and-long-enough-to-count')).status, 429);
      assert.equal((await getFrom(url, '/api/me', `${token}x`)).status, 429, 'a near miss of the right token is still wrong');
      const elsewhere = await getFrom(url, '/api/me', token, '127.0.0.2');
      assert.deepEqual([elsewhere.status, elsewhere.body], [200, { name: 'tester' }]);
      assert.equal((await getFrom(url, '/api/me', 'wrong-but-long-enough-to-count', '127.0.0.3')).status, 401);

      const signIns = () => warnings.filter((line) => /^api sign-in/.test(String(line.message)));
      // 9 refusals and 1 throttling from the first address, 1 refusal from the third.
      await waitFor(() => signIns().length >= 11, { timeoutMs: 5_000, what: 'the sign-in warnings' });
      const refused = signIns();
      const fromFirst = refused.filter((line) => line.address === '127.0.0.1');
      assert.equal(fromFirst.filter((line) => line.message === 'api sign-in refused: wrong token').length, 9);
      assert.equal(fromFirst.filter((line) => line.message === 'api sign-ins throttled: too many wrong tokens').length, 1);
      assert.ok(refused.some((line) => line.address === '127.0.0.3'));
      const written = JSON.stringify(refused);
      for (const guess of [...guesses, token]) assert.ok(!written.includes(guess), 'no token in the log');
    });
  },
);

/** Ten wrong tokens from `from`, forwarded for `forwardedFor` when given: enough to throttle an address (the default limit). */
async function throttle(url: string, from: string, forwardedFor?: string): Promise<void> {
  const statuses = [];
  for (let index = 0; index < 10; index += 1) statuses.push((await getFrom(url, '/api/me', `guess-${index}-${'y'.repeat(24)}`, from, forwardedFor)).status);
  assert.deepEqual(statuses, Array(10).fill(401));
  assert.equal((await getFrom(url, '/api/me', `guess-10-${'y'.repeat(24)}`, from, forwardedFor)).status, 429, 'throttled after 10');
}

test(
  'with API_TRUST_PROXY naming the proxy, X-Forwarded-For tells clients apart: one client throttled, another behind the same proxy still answered 401, not 429, and the warning names the client',
  { timeout: 120_000 },
  async () => {
    await withPipeline(['api'], { API_TRUST_PROXY: '127.0.0.1' }, async (pipeline) => {
      const { apiUrl: url = '', apiToken: token = '' } = pipeline;
      const warnings = captureWarnings(pipeline.vhost.logger);
      // 127.0.0.1 plays the TLS proxy; it appends the address of each client it forwards.
      await throttle(url, '127.0.0.1', '203.0.113.7');
      assert.equal(
        (await getFrom(url, '/api/me', 'other-client-wrong-token-xxxxxxxx', '127.0.0.1', '203.0.113.8')).status,
        401,
        'the other client is not throttled',
      );
      assert.equal((await getFrom(url, '/api/me', token, '127.0.0.1', '203.0.113.8')).status, 200);
      assert.equal((await getFrom(url, '/api/me', token, '127.0.0.1', '203.0.113.7')).status, 200, 'the right token gets in from the throttled client too');
      // A forged entry before the real one is not believed: the proxy appended the real client last.
      assert.equal((await getFrom(url, '/api/me', 'forged-wrong-token-xxxxxxxxxxxxxx', '127.0.0.1', '198.51.100.1, 203.0.113.7')).status, 429);
      await waitFor(() => warnings.some((line) => line.message === 'api sign-ins throttled: too many wrong tokens'), {
        timeoutMs: 5_000,
        what: 'the throttling warning',
      });
      assert.deepEqual([...new Set(warnings.map((line) => line.address))].sort(), ['203.0.113.7', '203.0.113.8']);
    });
  },
);

test(
  'without API_TRUST_PROXY, X-Forwarded-For is ignored: a throttled client cannot escape by forging one, and all its requests count against its connection address',
  { timeout: 120_000 },
  async () => {
    await withPipeline(['api'], {}, async (pipeline) => {
      const { apiUrl: url = '', apiToken: token = '' } = pipeline;
      const warnings = captureWarnings(pipeline.vhost.logger);
      // Each guess claims another client: all count against 127.0.0.1 anyway.
      const statuses = [];
      for (let index = 0; index < 11; index += 1)
        statuses.push((await getFrom(url, '/api/me', `guess-${index}-${'z'.repeat(24)}`, '127.0.0.1', `198.51.100.${index + 1}`)).status);
      assert.deepEqual(statuses, [...Array(10).fill(401), 429]);
      assert.equal((await getFrom(url, '/api/me', 'forged-wrong-token-xxxxxxxxxxxxxx', '127.0.0.1', '203.0.113.99')).status, 429);
      assert.equal((await getFrom(url, '/api/me', token, '127.0.0.1', '203.0.113.99')).status, 200);
      assert.equal((await getFrom(url, '/api/me', 'wrong-from-another-connection-xxxx', '127.0.0.2')).status, 401);
      await waitFor(() => warnings.length >= 11, { timeoutMs: 5_000, what: 'the sign-in warnings' });
      assert.deepEqual([...new Set(warnings.map((line) => line.address))].sort(), ['127.0.0.1', '127.0.0.2']);
    });
  },
);

test('API_TRUST_PROXY accepts false (the default), true, and addresses/CIDRs; a hop count or a host name is refused, naming the variable', () => {
  assert.equal(loadConfig({}).API_TRUST_PROXY, false);
  assert.equal(loadConfig({ API_TRUST_PROXY: 'true' }).API_TRUST_PROXY, true);
  assert.deepEqual(loadConfig({ API_TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,fd00::/8,loopback' }).API_TRUST_PROXY, [
    '10.0.0.0/8',
    '127.0.0.1',
    'fd00::/8',
    'loopback',
  ]);
  for (const [value, reason] of [
    ['2', /hop count is not accepted/],
    ['proxy.internal', /"proxy\.internal" is none of these/],
    ['10.0.0.0/40', /"10\.0\.0\.0\/40"/],
  ] as const) {
    assert.throws(
      () => loadConfig({ API_TRUST_PROXY: value }),
      (error: Error) => /API_TRUST_PROXY=/.test(error.message) && reason.test(error.message),
      value,
    );
  }
});

test(`API_TOKENS: tokens shorter than ${MIN_API_TOKEN_LENGTH} characters and the example placeholder of deploy/config.yaml are refused at boot, naming API_TOKENS and never quoting the token`, () => {
  const long = 'k7Q2vX9pL4mN8rT1wY6zB3cD';
  assert.deepEqual(loadConfig({ API_TOKENS: `alice=${long}, bob.k@acme = ${long}==` }).apiTokens, [
    { name: 'alice', token: long },
    { name: 'bob.k@acme', token: `${long}==` },
  ]);
  const placeholder = /API_TOKENS: (\S+=\S+)/.exec(readFileSync(path.join(PROJECT_ROOT, 'deploy/config.yaml'), 'utf8'))?.[1];
  assert.ok(placeholder, 'deploy/config.yaml shows an example API_TOKENS');
  for (const [value, reason] of [
    ['admin=a', /token of admin is shorter than 24 characters/],
    [`alice=${long},bob=short-token`, /token of bob is shorter than 24/],
    [placeholder, /is the example placeholder/],
    [`ops=CHANGE-ME-${long}`, /example placeholder/],
  ] as const) {
    assert.throws(
      () => loadConfig({ API_TOKENS: value }),
      (error: Error) => {
        assert.match(error.message, /API_TOKENS: /);
        assert.match(error.message, reason);
        const secrets = value
          .split(',')
          .map((pair) => pair.slice(pair.indexOf('=') + 1).trim())
          .filter((secret) => secret.length >= 8);
        for (const secret of secrets) assert.ok(!error.message.includes(secret), `the token ${secret} is not quoted`);
        return true;
      },
      value,
    );
  }
});

/** Whether anything accepts a TCP connection at host:port. */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 3_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

test(
  'by default the API and the metrics listen on loopback only, and every answer carries a Content-Security-Policy, nosniff and no-referrer',
  { timeout: 120_000 },
  async () => {
    const defaults = loadConfig({});
    assert.deepEqual([defaults.API_HOST, defaults.METRICS_HOST], ['127.0.0.1', '127.0.0.1']);
    await withPipeline(['api'], { API_HOST: '', METRICS_HOST: '' }, async (pipeline) => {
      const api = pipeline.worker.roles.find((role) => role.name === 'api')!;
      assert.match(api.url ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.match(pipeline.worker.http.url, /^http:\/\/127\.0\.0\.1:\d+$/);
      const apiPort = Number(new URL(api.url!).port);
      const metricsPort = pipeline.worker.http.port;
      assert.equal(await accepts('127.0.0.1', apiPort), true);
      // The machine's own network addresses (where there are any) must not answer.
      const outside = Object.values(networkInterfaces())
        .flat()
        .filter((entry) => entry && !entry.internal && entry.family === 'IPv4')
        .map((entry) => entry!.address);
      for (const address of outside) {
        assert.equal(await accepts(address, apiPort), false, `the API answers on ${address}`);
        assert.equal(await accepts(address, metricsPort), false, `the metrics answer on ${address}`);
      }

      for (const route of ['/', '/app.js', '/api/me', '/api/no-such-route']) {
        const response = await fetch(`${pipeline.apiUrl}${route}`, { headers: { authorization: `Bearer ${pipeline.apiToken}` } });
        const policy = response.headers.get('content-security-policy') ?? '';
        assert.match(policy, /(^|;\s*)default-src 'self'(;|$)/, `${route}: ${policy}`);
        assert.match(policy, /frame-ancestors 'none'/, route);
        assert.doesNotMatch(policy, /unsafe-inline|unsafe-eval/, route);
        assert.equal(response.headers.get('x-content-type-options'), 'nosniff', route);
        assert.equal(response.headers.get('referrer-policy'), 'no-referrer', route);
      }
    });
  },
);

test(
  "the chart library is served from node_modules at /vendor/uplot/: its two files with the page's headers, nothing else of it or of node_modules (404)",
  { timeout: 120_000 },
  async () => {
    await withPipeline(['api'], {}, async (pipeline) => {
      for (const [name, type] of [
        ['uPlot.esm.js', /^(text|application)\/javascript/],
        ['uPlot.min.css', /^text\/css/],
      ] as const) {
        const response = await fetch(`${pipeline.apiUrl}/vendor/uplot/${name}`);
        assert.equal(response.status, 200, name);
        assert.match(response.headers.get('content-type') ?? '', type, name);
        assert.match(response.headers.get('content-security-policy') ?? '', /(^|;\s*)default-src 'self'(;|$)/, name);
        assert.equal(response.headers.get('x-content-type-options'), 'nosniff', name);
        assert.equal(await response.text(), readFileSync(path.join(PROJECT_ROOT, 'node_modules/uplot/dist', name), 'utf8'), name);
      }
      const elsewhere = [
        '/vendor/uplot/',
        '/vendor/uplot',
        '/vendor/uplot/uPlot.cjs.js',
        '/vendor/uplot/uPlot.iife.min.js',
        '/vendor/uplot/uPlot.d.ts',
        '/vendor/uplot/package.json',
        '/vendor/uplot/uPlot.esm.js/',
        '/vendor/uplot/uplot.esm.js',
        '/vendor/uplot/%2e%2e/package.json',
        '/vendor/uplot/..%2f..%2fpackage.json',
        '/vendor/uplot/..%2f..%2ffastify%2fpackage.json',
        '/vendor/fastify/package.json',
        '/vendor/',
        '/node_modules/uplot/dist/uPlot.esm.js',
        '/node_modules/uplot/package.json',
      ];
      for (const route of elsewhere) {
        const response = await fetch(`${pipeline.apiUrl}${route}`);
        assert.equal(response.status, 404, route);
        assert.equal((await response.json()).code, 'not_found', route);
      }
    });
  },
);

test('a generated API token is never printed: the api says which file holds it and how to read it', { timeout: 120_000 }, async () => {
  const vhost = await createTestVhost();
  const api = await spawnApiProcess(vhost, { API_TOKENS: '' });
  try {
    const file = tokenFileOf(vhost.config);
    const token = readFileSync(file, 'utf8').trim();
    assert.ok(token.length >= 32);
    const output = api.output();
    assert.ok(!output.includes(token), `the token is in the output:\n${output}`);
    assert.ok(output.includes(`cat ${file}`), `the output says how to read ${file}:\n${output}`);
    assert.equal((await getFrom(api.url, '/api/me', token)).status, 200, 'the token in the file works');
  } finally {
    await api.stop();
    await vhost.cleanup();
  }
});
