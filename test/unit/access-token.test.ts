/**
 * The IMAP/SMTP mailbox's OAuth2 tokens against a loopback token endpoint speaking RFC 6749: the
 * refresh grant's form, one token kept until shortly before `expires_in`, a refused token renewed
 * once however many logins were refused with it, a rotated refresh token used from then on, and
 * failures that say whether they pass (the endpoint out is an outage, `invalid_grant` is not).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { isOutageError } from '../../src/messaging/outage-breaker.js';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fixedAccessToken, refreshingAccessToken, rotatedRefreshTokenFile, type OAuth2Refresh } from '../../src/providers/mailbox/access-token.js';
import { startFakeOAuth2, type FakeOAuth2Server } from '../fakes/oauth2-server.js';

let provider: FakeOAuth2Server;
let client: OAuth2Refresh;

before(async () => {
  provider = await startFakeOAuth2({ user: 'support@acme.example', expiresIn: 3600 });
  client = { tokenUrl: provider.tokenUrl, clientId: 'test-client.apps.example', clientSecret: 'test-client-secret', refreshToken: '1//test-refresh-token' };
});
after(() => provider.close());

const tokenRequests = () => provider.requests.filter((request) => request.path === '/token');
const failure = (code: string, retryable: boolean) => (error: { code?: string; retryable?: boolean }) => error.code === code && error.retryable === retryable;

test('the refresh grant is a form POST with the client and the refresh token; the token is kept until a minute before expires_in', async () => {
  let now = 1_000_000;
  const tokens = refreshingAccessToken({ ...client, scope: 'https://mail.google.com/' }, () => now);
  const before = tokenRequests().length;
  const first = await tokens.token();
  assert.deepEqual(tokenRequests().at(-1)!.body, {
    grant_type: 'refresh_token',
    refresh_token: '1//test-refresh-token',
    client_id: 'test-client.apps.example',
    client_secret: 'test-client-secret',
    scope: 'https://mail.google.com/',
  });
  assert.match(String(tokenRequests().at(-1)!.headers['content-type']), /^application\/x-www-form-urlencoded/);
  now += 3_600_000 - 61_000;
  assert.equal(await tokens.token(), first, 'still more than a minute to live: the same token');
  now += 2_000;
  const second = await tokens.token();
  assert.notEqual(second, first, 'less than a minute to live: a new token');
  assert.equal(tokenRequests().length - before, 2);
});

test('logins refused with the same token share one renewal; a token refused after it was replaced gets the replacement', async () => {
  const tokens = refreshingAccessToken(client);
  const first = await tokens.token();
  const before = tokenRequests().length;
  const renewed = await Promise.all([tokens.token(first), tokens.token(first), tokens.token(first)]);
  assert.equal(new Set(renewed).size, 1);
  assert.notEqual(renewed[0], first);
  assert.equal(await tokens.token(first), renewed[0], 'the stale refusal does not renew again');
  assert.equal(tokenRequests().length - before, 1);
});

test('a refresh token rotated by the endpoint is the one sent from then on', async () => {
  const tokens = refreshingAccessToken(client);
  provider.enqueue({
    status: 200,
    path: '/token',
    body: { access_token: 'ya29.rotating', token_type: 'Bearer', expires_in: 3600, refresh_token: '1//rotated' },
  });
  assert.equal(await tokens.token(), 'ya29.rotating');
  provider.enqueue({ status: 200, path: '/token', body: { access_token: 'ya29.after-rotation', token_type: 'Bearer', expires_in: 3600 } });
  assert.equal(await tokens.token('ya29.rotating'), 'ya29.after-rotation');
  assert.equal((tokenRequests().at(-1)!.body as Record<string, string>).refresh_token, '1//rotated');
});

test('a rotated refresh token is kept in a file for the next start; a new configured token voids it, and one the endpoint no longer takes falls back to the configured one', async () => {
  const file = path.join(await mkdtemp(path.join(tmpdir(), 'ragmail-oauth2-')), 'imap-oauth2-refresh-token.json');
  const rotating = { ...client, rotated: rotatedRefreshTokenFile(file) };
  provider.enqueue({
    status: 200,
    path: '/token',
    body: { access_token: 'ya29.before-restart', token_type: 'Bearer', expires_in: 3600, refresh_token: '1//rotated-on-disk' },
  });
  assert.equal(await refreshingAccessToken(rotating).token(), 'ya29.before-restart');
  assert.equal((await stat(file)).mode & 0o777, 0o600, 'a secret: readable by its owner only');
  assert.ok(!(await readFile(file, 'utf8')).includes('test-refresh-token'), 'the configured token is not written, only its digest');

  // The next start: the kept token is the one sent.
  provider.enqueue({ status: 200, path: '/token', body: { access_token: 'ya29.after-restart', token_type: 'Bearer', expires_in: 3600 } });
  assert.equal(await refreshingAccessToken(rotating).token(), 'ya29.after-restart');
  assert.equal((tokenRequests().at(-1)!.body as Record<string, string>).refresh_token, '1//rotated-on-disk');

  // An operator sets a new grant: the kept token was for the old one.
  provider.enqueue({ status: 200, path: '/token', body: { access_token: 'ya29.new-grant', token_type: 'Bearer', expires_in: 3600 } });
  assert.equal(await refreshingAccessToken({ ...rotating, refreshToken: '1//new-grant' }).token(), 'ya29.new-grant');
  assert.equal((tokenRequests().at(-1)!.body as Record<string, string>).refresh_token, '1//new-grant');

  // Another process of the host rotated the token since this one read the file: a refusal reads the file again.
  const laggard = refreshingAccessToken(rotating);
  provider.enqueue({ status: 200, path: '/token', body: { access_token: 'ya29.first', token_type: 'Bearer', expires_in: 3600 } });
  assert.equal(await laggard.token(), 'ya29.first');
  await rotatedRefreshTokenFile(file).save(client.refreshToken, '1//rotated-by-another-process');
  provider.enqueue({ status: 400, path: '/token', body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } });
  provider.enqueue({ status: 200, path: '/token', body: { access_token: 'ya29.from-the-file', token_type: 'Bearer', expires_in: 3600 } });
  const asked = tokenRequests().length;
  assert.equal(await laggard.token('ya29.first'), 'ya29.from-the-file');
  assert.deepEqual(
    tokenRequests()
      .slice(asked)
      .map((request) => (request.body as Record<string, string>).refresh_token),
    ['1//rotated-on-disk', '1//rotated-by-another-process'],
  );
  await rotatedRefreshTokenFile(file).save(client.refreshToken, '1//rotated-on-disk');

  // The kept token revoked (invalid_grant): the configured one is tried once, and works.
  provider.enqueue({ status: 400, path: '/token', body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } });
  const before = tokenRequests().length;
  assert.match(await refreshingAccessToken(rotating).token(), /^ya29\./);
  assert.deepEqual(
    tokenRequests()
      .slice(before)
      .map((request) => (request.body as Record<string, string>).refresh_token),
    ['1//rotated-on-disk', '1//test-refresh-token'],
  );
});

test('invalid_grant and invalid_client are mailbox_auth for good; a 503 or an endpoint that is not there is an outage the sender rides out', async () => {
  await assert.rejects(refreshingAccessToken({ ...client, refreshToken: '1//revoked' }).token(), (error: Error) => {
    assert.ok(failure('mailbox_auth', false)(error as never), error.message);
    assert.match(error.message, /HTTP 400\): invalid_grant: Token has been expired or revoked/);
    return true;
  });
  await assert.rejects(refreshingAccessToken({ ...client, clientSecret: 'wrong' }).token(), failure('mailbox_auth', false));
  provider.enqueue({ status: 503, path: '/token', body: '<html>Service Unavailable</html>' });
  await assert.rejects(refreshingAccessToken(client).token(), (error) => failure('mailbox_unreachable', true)(error as never) && isOutageError(error));
  const closed = await startFakeOAuth2({ user: 'nobody@acme.example' });
  await closed.close();
  await assert.rejects(refreshingAccessToken({ ...client, tokenUrl: closed.tokenUrl }).token(), (error) => isOutageError(error));
});

test('a fixed access token is offered until it is refused, then fails for good naming the variable that would renew it', async () => {
  const tokens = fixedAccessToken('ya29.fixed');
  assert.equal(await tokens.token(), 'ya29.fixed');
  await assert.rejects(
    tokens.token('ya29.fixed'),
    (error: Error) => failure('mailbox_auth', false)(error as never) && /IMAP_OAUTH2_REFRESH_TOKEN/.test(error.message),
  );
});
