/**
 * The mailbox contract against real mail servers: the IMAP mailbox reads from a private Dovecot
 * and sends through a private Postfix, which delivers the replies to the customers' addresses in a
 * Maildir the test reads back. Incoming mail arrives through Postfix too (SMTP, then virtual
 * delivery into the Maildir Dovecot serves), so every test drives both servers.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createImapMailbox, REJECTED_KEYWORD, TAKEN_KEYWORD, type ImapMailbox } from '../../src/providers/mailbox/imap.js';
import { checkMailServers } from '../../src/providers/mailbox/mail-servers.js';
import { createMailbox, imapSettings } from '../../src/app/providers.js';
import { loadConfig } from '../../src/app/config.js';
import { createLogger } from '../../src/lib/log.js';
import { mailboxContract } from '../contracts/mailbox.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { privateMailServersUnavailable, startPrivateMailServers, type MailUser, type PrivateMailServers } from '../helpers/private-mail-servers.js';

const unavailable = privateMailServersUnavailable();
/** One fresh user per test: the contract wants an empty mailbox each time. */
const USERS: MailUser[] = Array.from({ length: 28 }, (_, index) => ({ address: `support${index}@acme.example`, password: `secret-${index}` }));
let servers: PrivateMailServers | undefined;
let nextUser = 0;

before(async () => {
  if (!unavailable) servers = await startPrivateMailServers(USERS);
});
after(async () => {
  await servers?.stop();
});

function mailboxFor(user: MailUser, overrides: { takenFolder?: string } = {}): ImapMailbox {
  const { host, imapPort, smtpPort } = servers!;
  return createImapMailbox({
    address: user.address,
    imap: { host, port: imapPort, tls: 'none', user: user.address, password: user.password },
    smtp: { host, port: smtpPort, tls: 'none', user: user.address, password: user.password },
    timeoutMs: 10_000,
    ...overrides,
  });
}

async function countIn(user: MailUser, folder: string): Promise<number> {
  return (await servers!.folder(user, folder)).length;
}

async function rawMessagesIn(user: MailUser, folder: string): Promise<string[]> {
  return (await servers!.folder(user, folder)).map((message) => message.raw);
}

async function eventually<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${servers?.logs()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function deliverBySmtp(user: MailUser, raw: string): Promise<void> {
  return servers!.deliver(user, raw);
}

describe('imap mailbox on a private Dovecot and Postfix', { skip: unavailable }, () => {
  mailboxContract('imap (dovecot + postfix)', async () => {
    const user = USERS[nextUser++];
    assert.ok(user, 'more tests than prepared users');
    const mailbox = mailboxFor(user);
    return {
      mailbox,
      agentEmail: user.address,
      deliver: (raw) => deliverBySmtp(user, raw),
      // What reached the customers, once every copy in Sent did (delivery after SMTP is asynchronous).
      sent: async () => {
        const copies = (await rawMessagesIn(user, 'Sent')).length;
        const ours = () => servers!.outside().filter((raw) => raw.includes(`From: ${user.address}`));
        return eventually('the replies to reach the outside', () => (ours().length >= copies ? ours() : undefined));
      },
      drafts: () => rawMessagesIn(user, 'Drafts'),
      dispose: () => mailbox.close(),
    };
  });

  test('a reply sent over SMTP reaches the customer and its copy sits in Sent with \\Seen', async () => {
    const user = USERS[nextUser++]!;
    const mailbox = mailboxFor(user);
    try {
      await deliverBySmtp(user, makeEmail({ from: 'ana@example.org', to: user.address, subject: 'Hinge', messageId: '<hinge-1@example.org>' }));
      const [{ email }] = await mailbox.fetchNew(10);
      const messageId = `<ragmail.0123456789abcdef0123456789abcdef@acme.example>`;
      await mailbox.send({ email, message_id: messageId, subject: 'Re: Hinge', body: 'Tighten the hinge screw.' });
      const [copy, ...others] = await servers!.folder(user, 'Sent');
      assert.equal(others.length, 0);
      const flags = copy?.flags;
      assert.ok(flags?.has('\\Seen'), 'the Sent copy is read');
      const delivered = await eventually('the reply at ana', () => servers!.outside().find((raw) => raw.includes(messageId)));
      assert.match(delivered, /^To: ana@example.org/m);
      assert.match(delivered, /^In-Reply-To: <hinge-1@example.org>/m);
      // A redelivered send finds its Sent copy and sends nothing more.
      await mailbox.send({ email, message_id: messageId, subject: 'Re: Hinge', body: 'Tighten the hinge screw.' });
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(servers!.outside().filter((raw) => raw.includes(messageId)).length, 1, 'sent once');
    } finally {
      await mailbox.close();
    }
  });

  test('taken mail gets \\Seen and the keyword, or moves to IMAP_TAKEN_FOLDER; a new connection does not take it again', async () => {
    const user = USERS[nextUser++]!;
    let mailbox = mailboxFor(user, { takenFolder: 'Answered by ragmail' });
    try {
      await deliverBySmtp(user, makeEmail({ to: user.address, subject: 'one', messageId: '<one@example.net>' }));
      await deliverBySmtp(user, makeEmail({ to: user.address, subject: 'two', messageId: '<two@example.net>' }));
      const [first] = await mailbox.fetchNew(1);
      assert.equal(first.email.subject, 'one');
      assert.match(first.email.mailbox_ref, /^\d+:\d+$/, '<UIDVALIDITY>:<UID>');
      await mailbox.markTaken(first.email);
      await mailbox.markTaken(first.email);
      // A restarted poller: a fresh connection and no memory of its own.
      await mailbox.close();
      mailbox = mailboxFor(user, { takenFolder: 'Answered by ragmail' });
      assert.deepEqual(
        (await mailbox.fetchNew(10)).map((incoming) => incoming.email.subject),
        ['two'],
      );
      const moved = await servers!.folder(user, 'Answered by ragmail');
      assert.equal(moved.length, 1);
      assert.match(moved[0]!.raw, /^Subject: one$/m);
      assert.ok(moved[0]!.flags.has('\\Seen') && moved[0]!.flags.has(TAKEN_KEYWORD));
      assert.equal(await countIn(user, 'INBOX'), 1, 'only the untaken one is left in INBOX');
    } finally {
      await mailbox.close();
    }
  });

  test('a folder renumbered (new UIDVALIDITY) before the take: the email is found by its Message-ID, the other stays new', async () => {
    const user = USERS[nextUser++]!;
    let mailbox = mailboxFor(user);
    try {
      await deliverBySmtp(user, makeEmail({ to: user.address, subject: 'alpha', messageId: '<alpha@example.net>' }));
      await deliverBySmtp(user, makeEmail({ to: user.address, subject: 'beta', messageId: '<beta@example.net>' }));
      const [alpha, beta] = (await mailbox.fetchNew(10)).map((incoming) => incoming.email);
      await mailbox.close();
      const [oldValidity] = beta!.mailbox_ref.split(':');
      await servers!.setUidValidity(user, 'INBOX', Number(oldValidity) + 1000);
      mailbox = mailboxFor(user);
      await mailbox.markTaken(beta!);
      const left = await mailbox.fetchNew(10);
      assert.deepEqual(
        left.map((incoming) => incoming.email.subject),
        ['alpha'],
      );
      assert.notEqual(left[0]!.email.mailbox_ref, alpha!.mailbox_ref, 'refs carry the new UIDVALIDITY');
      assert.match(left[0]!.email.mailbox_ref, new RegExp(`^${Number(oldValidity) + 1000}:`));
    } finally {
      await mailbox.close();
    }
  });

  test('a message over the size limit is set aside unread with $RagmailRejected and not fetched again', async () => {
    const user = USERS[nextUser++]!;
    const mailbox = createImapMailbox({
      address: user.address,
      imap: { host: servers!.host, port: servers!.imapPort, tls: 'none', user: user.address, password: user.password },
      smtp: { host: servers!.host, port: servers!.smtpPort, tls: 'none', user: user.address, password: user.password },
      parseLimits: { maxBytes: 4_000, timeoutMs: 10_000 },
    });
    try {
      await deliverBySmtp(user, makeEmail({ to: user.address, subject: 'huge', body: 'x'.repeat(10_000) }));
      await deliverBySmtp(user, makeEmail({ to: user.address, subject: 'small' }));
      assert.deepEqual(
        (await mailbox.fetchNew(10)).map((incoming) => incoming.email.subject),
        ['small'],
      );
      assert.deepEqual(
        (await mailbox.fetchNew(10)).map((incoming) => incoming.email.subject),
        ['small'],
      );
      const [huge] = await servers!.folder(user, 'INBOX');
      assert.ok(huge!.flags.has(REJECTED_KEYWORD) && huge!.flags.has(TAKEN_KEYWORD), [...huge!.flags].join(' '));
      assert.ok(!huge!.flags.has('\\Seen'), 'left unread for a person');
    } finally {
      await mailbox.close();
    }
  });

  test('Dovecot restarts under an open connection: the mailbox reconnects (at most one retryable failure)', async () => {
    const user = USERS[nextUser++]!;
    const mailbox = mailboxFor(user);
    try {
      await deliverBySmtp(user, makeEmail({ to: user.address, subject: 'before' }));
      assert.equal((await mailbox.fetchNew(10)).length, 1);
      await servers!.restartImap();
      const first = await mailbox.fetchNew(10).then(
        (emails) => emails.length,
        (error: { code?: string; retryable?: boolean }) => {
          assert.equal(error.retryable, true, `the failure after a restart is retryable: ${error.code}`);
          return -1;
        },
      );
      if (first === -1) assert.equal((await mailbox.fetchNew(10)).length, 1);
      else assert.equal(first, 1);
    } finally {
      await mailbox.close();
    }
  });

  test('IDLE: waitForNew returns as soon as a message arrives, else after its wait, and at once on abort', async () => {
    const user = USERS[nextUser++]!;
    const mailbox = mailboxFor(user);
    const never = new AbortController().signal;
    const timed = async (wait: Promise<void>) => {
      const started = Date.now();
      await wait;
      return Date.now() - started;
    };
    try {
      assert.deepEqual(await mailbox.fetchNew(10), []);
      assert.ok((await timed(mailbox.waitForNew!(10_000, never))) < 5_000, 'a new IDLE connection first sends the poller to look');
      assert.ok((await timed(mailbox.waitForNew!(400, never))) >= 350, 'nothing new: the whole wait');

      const waiting = timed(mailbox.waitForNew!(30_000, never));
      await deliverBySmtp(user, makeEmail({ to: user.address, subject: 'announced' }));
      assert.ok((await waiting) < 10_000, 'the arrival ended the wait');
      assert.deepEqual(
        (await mailbox.fetchNew(10)).map((incoming) => incoming.email.subject),
        ['announced'],
      );

      const controller = new AbortController();
      const aborted = timed(mailbox.waitForNew!(30_000, controller.signal));
      controller.abort();
      assert.ok((await aborted) < 1_000);
    } finally {
      await mailbox.close();
    }
  });

  test('Sent and Drafts folders that do not exist yet: findReply says null, and the first draft and send create them', async () => {
    const user = USERS[nextUser++]!;
    const mailbox = createImapMailbox({
      address: user.address,
      imap: { host: servers!.host, port: servers!.imapPort, tls: 'none', user: user.address, password: user.password },
      smtp: { host: servers!.host, port: servers!.smtpPort, tls: 'none', user: user.address, password: user.password },
      sentFolder: 'Outgoing',
      draftsFolder: 'Pending review',
    });
    try {
      await deliverBySmtp(user, makeEmail({ from: 'noa@example.org', to: user.address, subject: 'Remote', messageId: '<remote@example.org>' }));
      const [{ email }] = await mailbox.fetchNew(10);
      const reply = { email, message_id: '<ragmail.00000000000000000000000000000003@acme.example>', subject: 'Re: Remote', body: 'Replace the batteries.' };
      assert.equal(await mailbox.findReply(user.address, reply.message_id), null);
      assert.equal(await mailbox.deleteDraft(user.address, reply.message_id), false);
      await mailbox.saveDraft(reply);
      assert.equal(await mailbox.findReply(user.address, reply.message_id), 'draft');
      await mailbox.send(reply);
      assert.equal(await mailbox.findReply(user.address, reply.message_id), 'sent');
      assert.equal((await servers!.folder(user, 'Pending review')).length, 1);
      assert.equal((await servers!.folder(user, 'Outgoing')).length, 1);
    } finally {
      await mailbox.close();
    }
  });

  test('wrong password: a permanent mailbox_auth error', async () => {
    const user = USERS[nextUser++]!;
    const mailbox = mailboxFor({ ...user, password: 'wrong' });
    await assert.rejects(mailbox.fetchNew(10), (error: { code?: string; retryable?: boolean }) => error.code === 'mailbox_auth' && error.retryable === false);
    await mailbox.close();
  });
});

describe('imap mailbox configured by the environment alone', { skip: unavailable }, () => {
  function environment(user: MailUser, overrides: Record<string, string> = {}): Record<string, string> {
    return {
      MAILBOX_PROVIDER: 'imap',
      IMAP_HOST: servers!.host,
      IMAP_PORT: String(servers!.imapPort),
      IMAP_TLS: 'none',
      IMAP_USER: user.address,
      IMAP_PASSWORD: user.password,
      SMTP_PORT: String(servers!.smtpPort),
      SMTP_TLS: 'none',
      ...overrides,
    };
  }

  test('check-providers logs in to IMAP and SMTP; a refused SMTP password fails the check and says where', async () => {
    const user = USERS[nextUser++]!;
    const good = imapSettings(loadConfig(environment(user)));
    assert.equal(good.smtp.host, servers!.host, 'SMTP_HOST defaults to IMAP_HOST');
    const passed = await checkMailServers(good, 'INBOX');
    assert.equal(passed.ok, true, passed.detail);
    assert.match(passed.detail, /INBOX: 0 messages/);
    assert.match(passed.detail, /smtp 127\.0\.0\.1:\d+ accepted the login/);

    const refused = await checkMailServers(imapSettings(loadConfig(environment(user, { SMTP_PASSWORD: 'wrong' }))), 'INBOX');
    assert.equal(refused.ok, false);
    assert.match(refused.detail, /^mailbox_auth: credentials rejected, check SMTP_USER/);
  });

  test('createMailbox(MAILBOX_PROVIDER=imap) serves the address of IMAP_USER when IMAP_ADDRESS is empty and reads its INBOX', async () => {
    const user = USERS[nextUser++]!;
    const config = loadConfig(environment(user));
    const mailbox = createMailbox(config, createLogger({ level: 'error', format: 'json', role: 'test' }));
    try {
      assert.equal(mailbox.provider, 'imap');
      assert.deepEqual(await mailbox.addresses(), [user.address]);
      await deliverBySmtp(user, makeEmail({ from: 'ola@example.org', to: user.address, subject: 'Battery' }));
      const [{ email }] = await mailbox.fetchNew(10);
      assert.equal(email.agent_email, user.address);
    } finally {
      await mailbox.close?.();
    }
  });
});
