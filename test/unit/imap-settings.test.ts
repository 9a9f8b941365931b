/**
 * MAILBOX_PROVIDER=imap from the environment: the SMTP settings fall back to the IMAP ones, an
 * access token wins over a password for both servers, a missing setting is named, and the TLS
 * modes and failures of the two servers map the way the mailbox relies on.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../src/app/config.js';
import { imapSettings } from '../../src/app/providers.js';
import { imapOptions, smtpOptions } from '../../src/providers/mailbox/mail-servers.js';
import { imapError, smtpError } from '../../src/providers/mailbox/mail-server-errors.js';

const BASE = { MAILBOX_PROVIDER: 'imap', IMAP_HOST: 'mail.example.com', IMAP_USER: 'support@example.com', IMAP_PASSWORD: 'secret' };

test('SMTP host, user and password default to the IMAP ones; the address served is IMAP_USER', () => {
  const settings = imapSettings(loadConfig(BASE));
  assert.equal(settings.address, 'support@example.com');
  assert.deepEqual(settings.imap, { host: 'mail.example.com', port: 993, tls: 'tls', user: 'support@example.com', password: 'secret', oauth2: undefined });
  assert.deepEqual(settings.smtp, {
    host: 'mail.example.com',
    port: 587,
    tls: 'starttls',
    user: 'support@example.com',
    password: 'secret',
    oauth2: undefined,
  });
  assert.equal(settings.mailbox, 'INBOX');
  assert.equal(settings.takenFolder, '');

  const split = imapSettings(
    loadConfig({ ...BASE, SMTP_HOST: 'smtp.example.com', SMTP_USER: 'relay', SMTP_PASSWORD: 'other', IMAP_ADDRESS: 'help@example.com' }),
  );
  assert.equal(split.address, 'help@example.com');
  assert.deepEqual([split.smtp.host, split.smtp.user, split.smtp.password], ['smtp.example.com', 'relay', 'other']);
});

test('an access token is used for both servers as XOAUTH2, from one source, and no password is needed', async () => {
  const { IMAP_PASSWORD: _password, ...withoutPassword } = BASE;
  const settings = imapSettings(loadConfig({ ...withoutPassword, IMAP_ACCESS_TOKEN: 'ya29.token' }));
  assert.equal(settings.imap.password, undefined);
  assert.equal(settings.smtp.oauth2, settings.imap.oauth2);
  assert.equal(await settings.imap.oauth2?.token(), 'ya29.token');
  assert.deepEqual(imapOptions(settings, 'ya29.token').auth, { user: 'support@example.com', accessToken: 'ya29.token' });
  const smtpAuth = smtpOptions(settings).auth as {
    type?: string;
    user?: string;
    provisionCallback?: (user: string, renew: boolean, callback: (error: Error | null, token?: string) => void) => void;
  };
  assert.deepEqual([smtpAuth.type, smtpAuth.user], ['OAuth2', 'support@example.com']);
  const provided = await new Promise<string | undefined>((resolve, reject) =>
    smtpAuth.provisionCallback!('support@example.com', false, (error, token) => (error ? reject(error) : resolve(token))),
  );
  assert.equal(provided, 'ya29.token', "nodemailer's OAuth2 hook hands out the source's token");
});

test('a refresh token needs the token endpoint and the client id, and wins over an access token and a password', () => {
  const refresh = { ...BASE, IMAP_ACCESS_TOKEN: 'ya29.token', IMAP_OAUTH2_REFRESH_TOKEN: '1//refresh' };
  assert.throws(() => imapSettings(loadConfig(refresh)), /IMAP_OAUTH2_TOKEN_URL/);
  assert.throws(() => imapSettings(loadConfig({ ...refresh, IMAP_OAUTH2_TOKEN_URL: 'https://oauth2.googleapis.com/token' })), /IMAP_OAUTH2_CLIENT_ID/);
  const settings = imapSettings(loadConfig({ ...refresh, IMAP_OAUTH2_TOKEN_URL: 'https://oauth2.googleapis.com/token', IMAP_OAUTH2_CLIENT_ID: 'client' }));
  assert.equal(settings.imap.password, undefined);
  assert.ok(settings.imap.oauth2 && settings.smtp.oauth2 === settings.imap.oauth2);
});

test('a missing or wrong setting is named', () => {
  const { IMAP_PASSWORD: _password, ...withoutPassword } = BASE;
  assert.throws(() => imapSettings(loadConfig(withoutPassword)), /IMAP_PASSWORD/);
  assert.throws(() => imapSettings(loadConfig({ ...BASE, IMAP_HOST: '' })), /IMAP_HOST/);
  assert.throws(() => imapSettings(loadConfig({ ...BASE, IMAP_USER: 'support' })), /IMAP_ADDRESS/);
  assert.throws(
    () => loadConfig({ ...BASE, IMAP_TLS: 'ssl' }),
    (error: unknown) => error instanceof ConfigError && /IMAP_TLS/.test(error.message),
  );
});

test('tls, starttls and none become implicit TLS, a required STARTTLS, and no TLS at all', () => {
  const servers = (tls: 'tls' | 'starttls' | 'none') => {
    const server = { host: 'h', port: 1, tls, user: 'u', password: 'p' };
    return { imap: server, smtp: server };
  };
  assert.deepEqual(
    (['tls', 'starttls', 'none'] as const).map((tls) => [imapOptions(servers(tls)).secure, imapOptions(servers(tls)).doSTARTTLS]),
    [
      [true, undefined],
      [false, true],
      [false, false],
    ],
  );
  assert.deepEqual(
    (['tls', 'starttls', 'none'] as const).map((tls) => {
      const options = smtpOptions(servers(tls));
      return [options.secure, options.requireTLS, options.ignoreTLS];
    }),
    [
      [true, false, false],
      [false, true, false],
      [false, false, true],
    ],
  );
});

test('failures say whether a retry may help', () => {
  const classify = (error: { code: string; retryable: boolean }) => [error.code, error.retryable];
  assert.deepEqual(classify(imapError('login', Object.assign(new Error('no'), { authenticationFailed: true }))), ['mailbox_auth', false]);
  assert.deepEqual(classify(imapError('fetch', Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }))), ['mailbox_unreachable', true]);
  assert.deepEqual(classify(imapError('fetch', Object.assign(new Error('busy'), { serverResponseCode: 'UNAVAILABLE' }))), ['mailbox_unreachable', true]);
  assert.deepEqual(classify(smtpError('send', Object.assign(new Error('auth'), { code: 'EAUTH', responseCode: 535 }))), ['mailbox_auth', false]);
  assert.deepEqual(classify(smtpError('send', Object.assign(new Error('greylisted'), { code: 'EENVELOPE', responseCode: 451 }))), [
    'mailbox_unavailable',
    true,
  ]);
  assert.deepEqual(classify(smtpError('send', Object.assign(new Error('no such user'), { code: 'EENVELOPE', responseCode: 550 }))), [
    'mailbox_rejected',
    false,
  ]);
  assert.deepEqual(classify(smtpError('send', Object.assign(new Error('reset'), { code: 'ECONNECTION' }))), ['mailbox_unreachable', true]);
  assert.deepEqual(
    classify(smtpError('send', Object.assign(new Error('unable to verify'), { code: 'ESOCKET', originalCode: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }))),
    ['mailbox_tls', false],
  );
});
