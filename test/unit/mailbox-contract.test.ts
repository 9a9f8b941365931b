/**
 * Runs the mailbox contract on every implementation: Maildir in a temporary folder, and Gmail
 * through googleapis against the loopback fake (OAuth2 refresh token).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createMaildirMailbox, deliverToMaildir } from '../../src/providers/mailbox/maildir.js';
import { createGmailMailbox } from '../../src/providers/mailbox/gmail.js';
import { mailboxContract } from '../contracts/mailbox.js';
import { startFakeGmail } from '../fakes/gmail-server.js';

const agentEmail = 'support@acme.example';

function readAll(folder: string): string[] {
  if (!fs.existsSync(folder)) return [];
  return fs
    .readdirSync(folder)
    .sort()
    .map((name) => fs.readFileSync(path.join(folder, name), 'utf8'));
}

mailboxContract('maildir', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
  return {
    mailbox: createMaildirMailbox({ root }),
    agentEmail,
    deliver: async (raw) => {
      await deliverToMaildir(root, agentEmail, raw);
    },
    sent: async () => readAll(path.join(root, agentEmail, 'outbox')),
    drafts: async () => readAll(path.join(root, agentEmail, 'drafts')),
    dispose: async () => fs.rmSync(root, { recursive: true, force: true }),
  };
});

mailboxContract('gmail (fake server)', async () => {
  const fake = await startFakeGmail({ user: agentEmail, refreshToken: 'refresh-1' });
  return {
    mailbox: createGmailMailbox({
      user: agentEmail,
      auth: { clientId: 'client-1', clientSecret: 'secret-1', refreshToken: 'refresh-1' },
      processedLabel: 'ragmail/processed',
      rootUrl: `${fake.url}/`,
      tokenUrl: `${fake.url}/token`,
    }),
    agentEmail,
    deliver: async (raw) => {
      fake.deliver(raw);
    },
    sent: async () => fake.sent().map((message) => message.raw),
    drafts: async () => fake.drafts().map((message) => message.raw),
    dispose: () => fake.close(),
  };
});
