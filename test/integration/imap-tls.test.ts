/**
 * The IMAP mailbox over TLS against the private Dovecot and Postfix with a certificate of a test
 * CA: implicit TLS (imaps, smtps) and STARTTLS both work with MAIL_CA_FILE, and a server whose CA
 * is not trusted is refused with a permanent error, not retried.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createImapMailbox } from '../../src/providers/mailbox/imap.js';
import { checkMailServers, newSmtpTransport, type MailServers, type MailTls } from '../../src/providers/mailbox/mail-servers.js';
import { smtpError } from '../../src/providers/mailbox/mail-server-errors.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { privateMailServersUnavailable, startPrivateMailServers, type MailUser, type PrivateMailServers } from '../helpers/private-mail-servers.js';
import { createTestPki, type TestPki } from '../helpers/tls.js';

const unavailable = privateMailServersUnavailable();
const USER: MailUser = { address: 'support@acme.example', password: 'tls-secret' };
let pki: TestPki | undefined;
let servers: PrivateMailServers | undefined;

before(async () => {
  if (unavailable) return;
  pki = createTestPki();
  servers = await startPrivateMailServers([USER], { certificate: { certFile: pki.serverCert, keyFile: pki.serverKey } });
});
after(async () => {
  await servers?.stop();
  pki?.cleanup();
});

function serversWith(tls: MailTls, caFile: string | undefined): MailServers {
  const implicit = tls === 'tls';
  const login = { host: '127.0.0.1', tls, user: USER.address, password: USER.password };
  return {
    imap: { ...login, port: implicit ? servers!.imapsPort : servers!.imapPort },
    smtp: { ...login, port: implicit ? servers!.smtpsPort : servers!.smtpPort },
    caFile,
    timeoutMs: 10_000,
  };
}

describe('imap mailbox over TLS', { skip: unavailable }, () => {
  test('implicit TLS with MAIL_CA_FILE: mail is read over imaps and the reply goes out over smtps', async () => {
    await servers!.deliver(USER, makeEmail({ from: 'ines@example.org', to: USER.address, subject: 'Antenna', messageId: '<antenna@example.org>' }));
    const mailbox = createImapMailbox({ address: USER.address, ...serversWith('tls', pki!.caCert) });
    try {
      const [{ email }] = await mailbox.fetchNew(10);
      assert.equal(email.subject, 'Antenna');
      const messageId = '<ragmail.00000000000000000000000000000001@acme.example>';
      await mailbox.send({ email, message_id: messageId, subject: 'Re: Antenna', body: 'Point it north.' });
      assert.equal(await mailbox.findReply(USER.address, messageId), 'sent');
      const deadline = Date.now() + 15_000;
      while (!servers!.outside().some((raw) => raw.includes(messageId))) {
        assert.ok(Date.now() < deadline, 'the reply reached ines');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    } finally {
      await mailbox.close();
    }
  });

  test('STARTTLS with MAIL_CA_FILE: check-providers logs in to both servers', async () => {
    const check = await checkMailServers(serversWith('starttls', pki!.caCert), 'INBOX');
    assert.equal(check.ok, true, check.detail);
  });

  test('a certificate of an untrusted CA is refused: mailbox_tls, permanent', async () => {
    for (const tls of ['tls', 'starttls'] as const) {
      const check = await checkMailServers(serversWith(tls, undefined), 'INBOX');
      assert.equal(check.ok, false, tls);
      assert.match(check.detail, /^mailbox_tls: /, `${tls}: ${check.detail}`);
      const mailbox = createImapMailbox({ address: USER.address, ...serversWith(tls, pki!.foreignCaCert) });
      await assert.rejects(mailbox.fetchNew(1), (error: { code?: string; retryable?: boolean }) => error.code === 'mailbox_tls' && error.retryable === false);
      await mailbox.close();
      const transport = newSmtpTransport(serversWith(tls, undefined));
      const refused = smtpError(
        'login',
        await transport.verify().then(
          () => undefined,
          (error: unknown) => error,
        ),
      );
      transport.close();
      assert.equal(refused.code, 'mailbox_tls', `smtp ${tls}: ${refused.message}`);
      assert.equal(refused.retryable, false);
    }
  });
});
