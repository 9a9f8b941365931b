/**
 * A Dovecot and a Postfix of the test's own, on free loopback ports, with their configuration,
 * queue, logs and mail in one temporary folder, so a reply the IMAP mailbox sends over SMTP can be
 * read back over IMAP without touching /etc, the system's services or ports 25/143/993.
 *
 * - Dovecot (`dovecot -F -c <conf>`, Debian `dovecot-imapd`): IMAP on loopback with plaintext
 *   login allowed, users from a passwd-file, Maildir storage (`<dir>/mail/<user>/Maildir`), the
 *   Sent and Drafts folders marked with their special use.
 * - Postfix (`postfix -c <confdir> start`, Debian `postfix`): SMTP on loopback, AUTH through
 *   Dovecot's auth socket, and every domain delivered by Postfix's `virtual` agent into a Maildir:
 *   a user's mail into the Maildir Dovecot serves as their INBOX, any other address into
 *   `<dir>/mail/outside/Maildir` (the world outside: `outside()` reads it).
 *
 * Postfix's master runs as root and its `virtual` agent writes as a mail user, so the helper needs
 * root; the mail belongs to `nobody`, whom Dovecot's mail processes run as too.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { freePorts } from './private-broker.js';

const run = promisify(execFile);

/** The uid and gid mail is stored as (`nobody` / `nogroup` on Debian). */
const MAIL_UID = 65534;
const MAIL_GID = 65534;

export interface MailUser {
  address: string;
  password: string;
}

/** A message of a folder as a test reads it back. */
export interface StoredMail {
  raw: string;
  flags: Set<string>;
}

/** A certificate (PEM) for 127.0.0.1 / localhost and its key: both servers then speak TLS too. */
export interface MailServerTls {
  certFile: string;
  keyFile: string;
}

/** What the servers offer beyond plain logins on clear ports. */
export interface PrivateMailServerOptions {
  /** A certificate: STARTTLS on both servers, and imaps and smtps listeners. */
  certificate?: MailServerTls;
  /**
   * An OAuth2 token-info endpoint (Dovecot's `oauth2` passdb appends the token and expects
   * `{"email": <user>}` back): XOAUTH2 and OAUTHBEARER are then accepted by both servers.
   */
  oauth2TokenInfoUrl?: string;
}

export interface PrivateMailServers {
  host: '127.0.0.1';
  /** IMAP and SMTP in clear, with STARTTLS offered when the servers have a certificate. */
  imapPort: number;
  smtpPort: number;
  /** With a certificate: IMAP and SMTP with TLS from the first byte (imaps, smtps); 0 without. */
  imapsPort: number;
  smtpsPort: number;
  users: MailUser[];
  /** Raw messages Postfix delivered to addresses that are not users (the customers), oldest first. */
  outside(): string[];
  /** Mails `raw` to the user through Postfix (no login: the user's domain is local) and waits until Dovecot shows it in INBOX. */
  deliver(user: MailUser, raw: string | Buffer): Promise<void>;
  /** The undeleted messages of one of the user's folders, in UID order, read over IMAP; none when it does not exist. */
  folder(user: MailUser, path: string): Promise<StoredMail[]>;
  /** Postfix's and Dovecot's logs, for a failed test's message. */
  logs(): string;
  /** Stops Dovecot (every IMAP connection breaks) and starts it again on the same port. */
  restartImap(): Promise<void>;
  /** Gives a folder a new UIDVALIDITY (`doveadm mailbox update`), as a server that renumbered it would. */
  setUidValidity(user: MailUser, folder: string, uidValidity: number): Promise<void>;
  /** `postfix stop` / `start`: SMTP goes away and comes back, IMAP stays. */
  stopSmtp(): Promise<void>;
  startSmtp(): Promise<void>;
  /** Stops both servers and removes the folder. */
  stop(): Promise<void>;
}

/** Why the private servers cannot run here, or undefined when they can. */
export function privateMailServersUnavailable(): string | undefined {
  if (!existsSync('/usr/sbin/dovecot') || !existsSync('/usr/lib/dovecot/imap')) return 'Dovecot is not installed (Debian package dovecot-imapd)';
  if (!existsSync('/usr/sbin/postfix') || !existsSync('/usr/lib/postfix/sbin/virtual')) return 'Postfix is not installed (Debian package postfix)';
  if (process.getuid?.() !== 0) return 'a private Postfix must be started as root (its master process and virtual delivery)';
  return undefined;
}

function dovecotConfig(dir: string, imapPort: number, tls: { imapsPort: number; certificate: MailServerTls } | undefined, oauth2: boolean): string {
  return `# A private Dovecot of a ragmail test (test/helpers/private-mail-servers.ts)
instance_name = ragmail-${path.basename(dir)}
base_dir = ${dir}/dovecot/run
state_dir = ${dir}/dovecot/state
log_path = ${dir}/dovecot/dovecot.log
protocols = imap
listen = 127.0.0.1
${tls ? `ssl = yes\nssl_cert = <${tls.certificate.certFile}\nssl_key = <${tls.certificate.keyFile}` : 'ssl = no'}
disable_plaintext_auth = no
auth_mechanisms = plain login${oauth2 ? ' xoauth2 oauthbearer' : ''}
passdb {
  driver = passwd-file
  mechanisms = plain login
  args = scheme=PLAIN username_format=%u ${dir}/dovecot/users
}
${
  oauth2
    ? `passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = ${dir}/dovecot/oauth2.conf.ext
}`
    : ''
}
userdb {
  driver = passwd-file
  args = username_format=%u ${dir}/dovecot/users
}
mail_location = maildir:~/Maildir
first_valid_uid = 1
namespace inbox {
  inbox = yes
  mailbox Sent {
    special_use = \\Sent
    auto = subscribe
  }
  mailbox Drafts {
    special_use = \\Drafts
    auto = subscribe
  }
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${imapPort}
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = ${tls?.imapsPort ?? 0}
  }
}
service pop3-login {
  inet_listener pop3 {
    port = 0
  }
}
service submission-login {
  inet_listener submission {
    port = 0
  }
}
# Postfix's smtpd checks SMTP AUTH here.
service auth {
  unix_listener auth-client {
    mode = 0666
  }
}
`;
}

function postfixMainConfig(dir: string, certificate: MailServerTls | undefined): string {
  const own = `${dir}/postfix`;
  return `# A private Postfix of a ragmail test (test/helpers/private-mail-servers.ts)
compatibility_level = 3.6
queue_directory = ${own}/queue
data_directory = ${own}/data
daemon_directory = /usr/lib/postfix/sbin
command_directory = /usr/sbin
meta_directory = /etc/postfix
mail_owner = postfix
setgid_group = postdrop
maillog_file = ${own}/postfix.log
maillog_file_prefixes = ${own}
myhostname = mail.ragmail.test
mydomain = ragmail.test
myorigin = $myhostname
mydestination =
inet_interfaces = loopback-only
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relayhost =
smtp_dns_support_level = disabled
alias_maps =
alias_database =
local_recipient_maps =
# Every domain is "virtual": nothing ever leaves the machine.
virtual_mailbox_domains = static:all
virtual_mailbox_base = ${dir}/mail
virtual_mailbox_maps = regexp:${own}/conf/mailboxes
virtual_uid_maps = static:${MAIL_UID}
virtual_gid_maps = static:${MAIL_GID}
virtual_minimum_uid = 1
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = ${dir}/dovecot/run/auth-client
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
smtpd_banner = $myhostname ESMTP
biff = no
${certificate ? `smtpd_tls_cert_file = ${certificate.certFile}\nsmtpd_tls_key_file = ${certificate.keyFile}\nsmtpd_tls_security_level = may\n` : ''}`;
}

function postfixMasterConfig(smtpPort: number, smtpsPort: number): string {
  // Debian's master.cf without chroot (there is no chroot jail here) and with our listeners.
  const services = [
    `127.0.0.1:${smtpPort} inet n - n - - smtpd`,
    ...(smtpsPort ? [`127.0.0.1:${smtpsPort} inet n - n - - smtpd -o smtpd_tls_wrappermode=yes`] : []),
    'pickup unix n - n 60 1 pickup',
    'cleanup unix n - n - 0 cleanup',
    'qmgr unix n - n 300 1 qmgr',
    'tlsmgr unix - - n 1000? 1 tlsmgr',
    'rewrite unix - - n - - trivial-rewrite',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'verify unix - - n - 1 verify',
    'flush unix n - n 1000? 0 flush',
    'proxymap unix - - n - - proxymap',
    'smtp unix - - n - - smtp',
    'relay unix - - n - - smtp',
    'showq unix n - n - - showq',
    'error unix - - n - - error',
    'retry unix - - n - - error',
    'discard unix - - n - - discard',
    'local unix - n n - - local',
    'virtual unix - n n - - virtual',
    'lmtp unix - - n - - lmtp',
    'anvil unix - - n - 1 anvil',
    'scache unix - - n - 1 scache',
    'postlog unix-dgram n - n - 1 postlogd',
  ];
  return `${services.join('\n')}\n`;
}

/** Resolves once `port` greets with `prefix` (an IMAP `* OK`, an SMTP `220`). */
async function waitForGreeting(port: number, prefix: string, timeoutMs: number, describe: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const greeted = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.setTimeout(2_000, () => socket.destroy());
      socket.once('data', (data) => {
        socket.destroy();
        resolve(data.toString().startsWith(prefix));
      });
      socket.once('error', () => resolve(false));
      socket.once('close', () => resolve(false));
    });
    if (greeted) return;
    if (Date.now() > deadline) throw new Error(`no ${prefix} greeting on 127.0.0.1:${port}: ${describe()}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function readIfThere(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** Runs `work` with an IMAP client logged in as `user`, then logs out. */
async function withImapClient<T>(imapPort: number, user: MailUser, work: (client: ImapFlow) => Promise<T>): Promise<T> {
  const client = new ImapFlow({
    host: '127.0.0.1',
    port: imapPort,
    secure: false,
    doSTARTTLS: false,
    auth: { user: user.address, pass: user.password },
    logger: false,
  });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.logout().catch(() => client.close());
  }
}

async function readFolder(imapPort: number, user: MailUser, folder: string): Promise<StoredMail[]> {
  return withImapClient(imapPort, user, async (client) => {
    let lock;
    try {
      lock = await client.getMailboxLock(folder, { readOnly: true });
    } catch (error) {
      if ((error as { mailboxMissing?: boolean }).mailboxMissing) return [];
      throw error;
    }
    try {
      if (!client.mailbox || client.mailbox.exists === 0) return [];
      const messages = await client.fetchAll('1:*', { uid: true, source: true, flags: true });
      return messages
        .filter((message) => !message.flags?.has('\\Deleted'))
        .map((message) => ({ raw: message.source?.toString('utf8') ?? '', flags: message.flags ?? new Set<string>() }));
    } finally {
      lock.release();
    }
  });
}

async function deliverBySmtp(imapPort: number, smtpPort: number, user: MailUser, raw: string | Buffer): Promise<void> {
  const count = () => withImapClient(imapPort, user, async (client) => ((await client.status('INBOX', { messages: true })) || { messages: 0 }).messages ?? 0);
  const before = await count();
  const transport = nodemailer.createTransport({ host: '127.0.0.1', port: smtpPort, secure: false, ignoreTLS: true });
  try {
    await transport.sendMail({ envelope: { from: 'someone@example.net', to: [user.address] }, raw });
  } finally {
    transport.close();
  }
  // One at a time, so arrival order is delivery order.
  const deadline = Date.now() + 15_000;
  while ((await count()) <= before) {
    if (Date.now() > deadline) throw new Error(`${user.address} did not receive the message within 15 s`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Starts Dovecot and Postfix with these users (each gets a Maildir with Sent and Drafts); see
 * {@link PrivateMailServerOptions} for TLS and OAuth2.
 */
export async function startPrivateMailServers(users: MailUser[], options: PrivateMailServerOptions = {}): Promise<PrivateMailServers> {
  const { certificate, oauth2TokenInfoUrl } = options;
  const unavailable = privateMailServersUnavailable();
  if (unavailable) throw new Error(unavailable);
  const dir = mkdtempSync(path.join(tmpdir(), 'ragmail-mail-'));
  // Postfix's and Dovecot's unprivileged processes walk into it.
  chmodSync(dir, 0o755);
  const [imapPort, smtpPort, imapsPort, smtpsPort] = certificate ? ((await freePorts(4)) as number[]) : [...((await freePorts(2)) as number[]), 0, 0];
  for (const sub of ['dovecot/run', 'dovecot/state', 'postfix/conf', 'postfix/queue', 'postfix/data', 'mail/outside']) {
    mkdirSync(path.join(dir, sub), { recursive: true });
  }
  chownSync(path.join(dir, 'postfix/data'), Number((await run('id', ['-u', 'postfix'])).stdout.trim()), 0);
  const homes = users.map((user, index) => ({ ...user, home: path.join(dir, 'mail', `user${index}`) }));
  for (const user of homes) mkdirSync(user.home, { recursive: true });
  for (const sub of ['mail', ...homes.map((user) => path.relative(dir, user.home)), 'mail/outside']) chownSync(path.join(dir, sub), MAIL_UID, MAIL_GID);
  const usersFile = path.join(dir, 'dovecot/users');
  writeFileSync(usersFile, homes.map((user) => `${user.address}:{PLAIN}${user.password}:${MAIL_UID}:${MAIL_GID}::${user.home}::\n`).join(''));
  chmodSync(usersFile, 0o644);
  if (oauth2TokenInfoUrl)
    writeFileSync(path.join(dir, 'dovecot/oauth2.conf.ext'), `tokeninfo_url = ${oauth2TokenInfoUrl}\nusername_format = %u\ntimeout_msecs = 5000\n`);
  writeFileSync(
    path.join(dir, 'dovecot/dovecot.conf'),
    dovecotConfig(dir, imapPort, certificate && { imapsPort, certificate }, oauth2TokenInfoUrl !== undefined),
  );

  const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const mailboxes = homes.map((user) => `/^${escape(user.address)}$/ ${path.relative(path.join(dir, 'mail'), user.home)}/Maildir/`);
  writeFileSync(path.join(dir, 'postfix/conf/mailboxes'), `${[...mailboxes, '/./ outside/Maildir/'].join('\n')}\n`);
  writeFileSync(path.join(dir, 'postfix/conf/main.cf'), postfixMainConfig(dir, certificate));
  writeFileSync(path.join(dir, 'postfix/conf/master.cf'), postfixMasterConfig(smtpPort, smtpsPort));

  const logs = () =>
    `--- dovecot.log\n${readIfThere(path.join(dir, 'dovecot/dovecot.log'))}--- postfix.log\n${readIfThere(path.join(dir, 'postfix/postfix.log'))}--- dovecot output\n${dovecotOutput}`;
  let dovecotOutput = '';
  const dovecotConf = path.join(dir, 'dovecot/dovecot.conf');
  const launchDovecot = (): ChildProcess => {
    const child = spawn('/usr/sbin/dovecot', ['-F', '-c', dovecotConf], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (data: Buffer) => (dovecotOutput += data.toString()));
    child.stderr?.on('data', (data: Buffer) => (dovecotOutput += data.toString()));
    return child;
  };
  const stopDovecot = async (child: ChildProcess) => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  let dovecot = launchDovecot();
  const postfix = (command: 'start' | 'stop') => run('/usr/sbin/postfix', ['-c', path.join(dir, 'postfix/conf'), command]);

  const stop = async () => {
    await postfix('stop').catch(() => undefined);
    await stopDovecot(dovecot);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForGreeting(imapPort, '* OK', 15_000, logs);
    await postfix('start');
    await waitForGreeting(smtpPort, '220', 15_000, logs);
  } catch (error) {
    await stop();
    throw error;
  }

  const outsideNew = path.join(dir, 'mail/outside/Maildir/new');
  return {
    host: '127.0.0.1',
    imapPort,
    smtpPort,
    imapsPort,
    smtpsPort,
    users,
    outside: () =>
      existsSync(outsideNew)
        ? readdirSync(outsideNew)
            .sort()
            .map((name) => readFileSync(path.join(outsideNew, name), 'utf8'))
        : [],
    deliver: (user, raw) => deliverBySmtp(imapPort, smtpPort, user, raw),
    folder: (user, folder) => readFolder(imapPort, user, folder),
    logs,
    restartImap: async () => {
      await stopDovecot(dovecot);
      dovecot = launchDovecot();
      await waitForGreeting(imapPort, '* OK', 15_000, logs);
    },
    setUidValidity: async (user, folder, uidValidity) => {
      await run('/usr/bin/doveadm', ['-c', dovecotConf, 'mailbox', 'update', '-u', user.address, '--uid-validity', String(uidValidity), folder]);
    },
    stopSmtp: async () => {
      await postfix('stop');
    },
    startSmtp: async () => {
      await postfix('start');
      await waitForGreeting(smtpPort, '220', 15_000, logs);
    },
    stop,
  };
}
