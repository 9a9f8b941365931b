/**
 * OAuth2 bearer logins (SASL XOAUTH2) against the private Dovecot and Postfix: Dovecot's `oauth2`
 * passdb asks a loopback token-info endpoint who a token belongs to, and Postfix's SMTP AUTH goes
 * through Dovecot, so IMAP_ACCESS_TOKEN alone reads mail and sends the reply; a token the endpoint
 * does not know is a permanent mailbox_auth.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/app/config.js';
import { imapSettings } from '../../src/app/providers.js';
import { createImapMailbox } from '../../src/providers/mailbox/imap.js';
import { checkMailServers } from '../../src/providers/mailbox/mail-servers.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { privateMailServersUnavailable, startPrivateMailServers, type MailUser, type PrivateMailServers } from '../helpers/private-mail-servers.js';

const unavailable = privateMailServersUnavailable();
const USER: MailUser = { address: 'support@acme.example', password: 'unused-password' };
const TOKEN = 'ya29.a-token-of-support';
let tokenInfo: http.Server | undefined;
const presented: string[] = [];
let servers: PrivateMailServers | undefined;

before(async () => {
  if (unavailable) return;
  // Google's tokeninfo shape: the token's owner as `email`, 400/401 for a token it does not know.
  tokenInfo = http.createServer((request, response) => {
    const token = new URL(request.url ?? '/', 'http://127.0.0.1').searchParams.get('access_token') ?? '';
    presented.push(token);
    response.setHeader('content-type', 'application/json');
    if (token === TOKEN) response.end(JSON.stringify({ email: USER.address, expires_in: 3599 }));
    else response.writeHead(401).end(JSON.stringify({ error: 'invalid_token' }));
  });
  await new Promise<void>((resolve) => tokenInfo!.listen(0, '127.0.0.1', resolve));
  const { port } = tokenInfo.address() as AddressInfo;
  servers = await startPrivateMailServers([USER], { oauth2TokenInfoUrl: `http://127.0.0.1:${port}/tokeninfo?access_token=` });
});
after(async () => {
  await servers?.stop();
  await new Promise((resolve) => (tokenInfo ? tokenInfo.close(resolve) : resolve(undefined)));
});

function environment(token: string): Record<string, string> {
  return {
    MAILBOX_PROVIDER: 'imap',
    IMAP_HOST: servers!.host,
    IMAP_PORT: String(servers!.imapPort),
    IMAP_TLS: 'none',
    IMAP_USER: USER.address,
    IMAP_ACCESS_TOKEN: token,
    SMTP_PORT: String(servers!.smtpPort),
    SMTP_TLS: 'none',
  };
}

describe('imap mailbox with an OAuth2 access token', { skip: unavailable }, () => {
  test('IMAP_ACCESS_TOKEN alone reads the mail over IMAP and sends the reply over SMTP (XOAUTH2)', async () => {
    await servers!.deliver(USER, makeEmail({ from: 'kai@example.org', to: USER.address, subject: 'Pairing', messageId: '<pairing@example.org>' }));
    const settings = imapSettings(loadConfig(environment(TOKEN)));
    const check = await checkMailServers(settings, 'INBOX');
    assert.equal(check.ok, true, check.detail);
    const mailbox = createImapMailbox(settings);
    try {
      const [{ email }] = await mailbox.fetchNew(10);
      assert.equal(email.subject, 'Pairing');
      const messageId = '<ragmail.00000000000000000000000000000002@acme.example>';
      await mailbox.send({ email, message_id: messageId, subject: 'Re: Pairing', body: 'Hold the pairing button.' });
      const deadline = Date.now() + 15_000;
      while (!servers!.outside().some((raw) => raw.includes(messageId))) {
        assert.ok(Date.now() < deadline, `the reply reached kai\n${servers!.logs()}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await mailbox.close();
    }
    assert.ok(presented.filter((token) => token === TOKEN).length >= 2, 'both servers asked the token endpoint about the token');
    assert.match(servers!.logs(), /sasl_method=XOAUTH2/, 'Postfix took the XOAUTH2 login');
  });

  test('a token the provider does not know is refused for good: mailbox_auth, not retried', async () => {
    const settings = imapSettings(loadConfig(environment('ya29.expired')));
    const mailbox = createImapMailbox(settings);
    await assert.rejects(mailbox.fetchNew(1), (error: { code?: string; retryable?: boolean }) => error.code === 'mailbox_auth' && error.retryable === false);
    await mailbox.close();
    const check = await checkMailServers(settings, 'INBOX');
    assert.equal(check.ok, false);
    assert.match(check.detail, /^mailbox_auth: /);
  });
});
