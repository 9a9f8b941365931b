/**
 * OAuth2 bearer logins (SASL XOAUTH2) against the private Dovecot and Postfix: Dovecot's `oauth2`
 * passdb asks a loopback provider's token-info endpoint who a token belongs to, and Postfix's SMTP
 * AUTH goes through Dovecot. IMAP_ACCESS_TOKEN alone reads mail and sends the reply; a token the
 * provider does not know is a permanent mailbox_auth; with IMAP_OAUTH2_REFRESH_TOKEN the mailbox
 * gets its tokens from the provider's token endpoint and, when a server refuses one that expired
 * early, renews it once and goes on, over IMAP and over SMTP alike.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadConfig } from '../../src/app/config.js';
import { imapSettings } from '../../src/app/providers.js';
import { createImapMailbox } from '../../src/providers/mailbox/imap.js';
import { checkMailServers } from '../../src/providers/mailbox/mail-servers.js';
import { startFakeOAuth2, type FakeOAuth2Server } from '../fakes/oauth2-server.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { privateMailServersUnavailable, startPrivateMailServers, type MailUser, type PrivateMailServers } from '../helpers/private-mail-servers.js';

const unavailable = privateMailServersUnavailable();
const USER: MailUser = { address: 'support@acme.example', password: 'unused-password' };
let provider: FakeOAuth2Server | undefined;
let servers: PrivateMailServers | undefined;

before(async () => {
  if (unavailable) return;
  provider = await startFakeOAuth2({ user: USER.address });
  servers = await startPrivateMailServers([USER], { oauth2TokenInfoUrl: provider.tokenInfoUrl });
});
after(async () => {
  await servers?.stop();
  await provider?.close();
});

function environment(auth: Record<string, string>): Record<string, string> {
  return {
    MAILBOX_PROVIDER: 'imap',
    IMAP_HOST: servers!.host,
    IMAP_PORT: String(servers!.imapPort),
    IMAP_TLS: 'none',
    IMAP_USER: USER.address,
    SMTP_PORT: String(servers!.smtpPort),
    SMTP_TLS: 'none',
    ...auth,
  };
}

/** Waits until Postfix delivered the reply with this Message-ID to the customer. */
async function delivered(messageId: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!servers!.outside().some((raw) => raw.includes(messageId))) {
    assert.ok(Date.now() < deadline, `the reply ${messageId} reached the customer\n${servers!.logs()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('imap mailbox with an OAuth2 access token', { skip: unavailable }, () => {
  test('IMAP_ACCESS_TOKEN alone reads the mail over IMAP and sends the reply over SMTP (XOAUTH2)', async () => {
    await servers!.deliver(USER, makeEmail({ from: 'kai@example.org', to: USER.address, subject: 'Pairing', messageId: '<pairing@example.org>' }));
    const token = provider!.issue();
    const settings = imapSettings(loadConfig(environment({ IMAP_ACCESS_TOKEN: token })));
    const check = await checkMailServers(settings, 'INBOX');
    assert.equal(check.ok, true, check.detail);
    const mailbox = createImapMailbox(settings);
    try {
      const [{ email }] = await mailbox.fetchNew(10);
      assert.equal(email.subject, 'Pairing');
      const messageId = '<ragmail.00000000000000000000000000000002@acme.example>';
      await mailbox.send({ email, message_id: messageId, subject: 'Re: Pairing', body: 'Hold the pairing button.' });
      await delivered(messageId);
    } finally {
      await mailbox.close();
    }
    assert.ok(provider!.presented().filter((presented) => presented === token).length >= 2, 'both servers asked the provider about the token');
    assert.match(servers!.logs(), /sasl_method=XOAUTH2/, 'Postfix took the XOAUTH2 login');
  });

  test('a token the provider does not know is refused for good: mailbox_auth, not retried', async () => {
    const settings = imapSettings(loadConfig(environment({ IMAP_ACCESS_TOKEN: 'ya29.unknown' })));
    const mailbox = createImapMailbox(settings);
    await assert.rejects(mailbox.fetchNew(1), (error: { code?: string; retryable?: boolean }) => error.code === 'mailbox_auth' && error.retryable === false);
    await mailbox.close();
    const check = await checkMailServers(settings, 'INBOX');
    assert.equal(check.ok, false);
    assert.match(check.detail, /^mailbox_auth: /);
  });

  test('with a refresh token: one token for both servers; when it expires early a server refuses it, and IMAP and SMTP each renew it once and go on', async () => {
    const settings = imapSettings(
      loadConfig(
        environment({
          IMAP_OAUTH2_TOKEN_URL: provider!.tokenUrl,
          IMAP_OAUTH2_CLIENT_ID: 'test-client.apps.example',
          IMAP_OAUTH2_CLIENT_SECRET: 'test-client-secret',
          IMAP_OAUTH2_REFRESH_TOKEN: '1//test-refresh-token',
        }),
      ),
    );
    const issued = provider!.issued.length;
    const mailbox = createImapMailbox(settings);
    try {
      await servers!.deliver(USER, makeEmail({ from: 'noor@example.org', to: USER.address, subject: 'Firmware', messageId: '<firmware@example.org>' }));
      const first = (await mailbox.fetchNew(10)).find(({ email }) => email.subject === 'Firmware');
      assert.ok(first, 'the mailbox read the mail');
      await mailbox.markTaken(first.email);
      const firstReply = '<ragmail.00000000000000000000000000000003@acme.example>';
      await mailbox.send({ email: first.email, message_id: firstReply, subject: 'Re: Firmware', body: 'Update from the settings page.' });
      await delivered(firstReply);
      assert.equal(provider!.issued.length - issued, 1, 'IMAP and SMTP logged in with the one token fetched');

      // The provider ends the token long before its expires_in: the next IMAP login is refused.
      provider!.revokeAll();
      await mailbox.close();
      await servers!.deliver(USER, makeEmail({ from: 'noor@example.org', to: USER.address, subject: 'Pairing', messageId: '<pairing-2@example.org>' }));
      const second = (await mailbox.fetchNew(10)).find(({ email }) => email.message_id_header === '<pairing-2@example.org>');
      assert.ok(second, 'the mailbox reads on after the refused login');
      assert.equal(provider!.issued.length - issued, 2, 'the refused IMAP login renewed the token once');

      // And again for SMTP: the token the source holds is refused by Postfix's AUTH.
      provider!.revokeAll();
      const secondReply = '<ragmail.00000000000000000000000000000004@acme.example>';
      await mailbox.send({ email: second.email, message_id: secondReply, subject: 'Re: Pairing', body: 'Hold the pairing button.' });
      await delivered(secondReply);
      assert.equal(provider!.issued.length - issued, 3, 'the refused SMTP login renewed the token once');
    } finally {
      await mailbox.close();
    }
    const renewed = provider!.issued.slice(issued);
    assert.ok(
      renewed.every((token) => provider!.presented().includes(token)),
      'every token fetched was presented to the servers',
    );
  });
});
