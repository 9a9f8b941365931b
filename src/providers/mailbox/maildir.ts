/**
 * The embedded mailbox: a folder per mailbox address, each a standard Maildir
 * (`<root>/<agent_email>/{tmp,new,cur}`), with replies written as `.eml` files to `outbox/` and
 * drafts to `drafts/`. Needs no server, and a person can read every message with any mail tool.
 */
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { RagmailError, permanentError, transientError } from '../../lib/errors.js';
import type { Email } from '../../pipeline/messages.js';
import { DEFAULT_EMAIL_PARSE_LIMITS, buildReply, parseEmail, type EmailParseLimits } from './mime.js';
import type { IncomingEmail, Mailbox, OutgoingReply } from './spec.js';

/** Settings of the Maildir mailbox. */
export interface MaildirMailboxOptions {
  /** Folder holding one subfolder per mailbox address. */
  root: string;
  /** Largest message read and parse time budget (MAX_EMAIL_BYTES, EMAIL_PARSE_TIMEOUT_MS); a message past either goes to `rejected/`. */
  parseLimits?: EmailParseLimits;
}

/** A folder name that is a mailbox address. */
const ADDRESS_FOLDER = /^[^@\s/\\]+@[^@\s/\\]+\.[^@\s/\\]+$/;

/** Maildir info suffix of a message that was seen (`:2,` + flag S, sorted flags). */
const SEEN_SUFFIX = ':2,S';

let deliveryCount = 0;

/** A Maildir unique name: time, then process and counter, then host (maildir(5)). */
function uniqueName(): string {
  const now = Date.now();
  const seconds = Math.floor(now / 1000);
  const microseconds = String((now % 1000) * 1000).padStart(6, '0');
  deliveryCount += 1;
  const sequence = String(deliveryCount).padStart(6, '0');
  const host = os.hostname().replace(/[/:\\]/g, '_');
  return `${seconds}.M${microseconds}P${process.pid}Q${sequence}R${randomBytes(4).toString('hex')}.${host}`;
}

/** Refuses names that would step out of their folder: refs travel in queue messages. */
function safeSegment(name: string, what: string): string {
  if (!name || name.startsWith('.') || /[/\\\0]/.test(name)) {
    throw permanentError('mailbox_path_invalid', `${what} is not a plain file name: ${JSON.stringify(name)}`);
  }
  return name;
}

function errorCodeOf(error: unknown): string | undefined {
  return error && typeof error === 'object' && 'code' in error ? String(error.code) : undefined;
}

/** Whether a file exists; other errors than "not found" are real failures. */
async function exists(file: string): Promise<boolean> {
  try {
    await fs.access(file);
    return true;
  } catch (error) {
    if (errorCodeOf(error) === 'ENOENT') return false;
    throw transientError('mailbox_io', `cannot check ${file}`, error);
  }
}

/** Writes a file the Maildir way: complete in `tmp/`, then renamed, so no reader sees half of it. */
async function writeAtomically(mailboxFolder: string, target: string, content: Buffer | string): Promise<void> {
  const temporary = path.join(mailboxFolder, 'tmp', uniqueName());
  await fs.mkdir(path.dirname(temporary), { recursive: true });
  await fs.mkdir(path.dirname(target), { recursive: true });
  await fs.writeFile(temporary, content);
  await fs.rename(temporary, target);
}

/**
 * The `.eml` file name of a reply: the hex of a ragmail Message-ID, or a hash of any other id,
 * so the same reply always lands on the same file and `findReply` is an exists check.
 */
export function replyFileName(messageId: string): string {
  const ours = /^<?ragmail\.([0-9a-f]+)@/i.exec(messageId.trim());
  if (ours) return `${ours[1].toLowerCase()}.eml`;
  return `${createHash('sha256').update(messageId.trim()).digest('hex').slice(0, 32)}.eml`;
}

/**
 * Drops a raw message into `new/` of a mailbox the Maildir way (written in `tmp/`, then
 * renamed) and returns its file name, which is the email's `mailbox_ref`.
 */
export async function deliverToMaildir(root: string, agentEmail: string, raw: Buffer | string): Promise<string> {
  const mailboxFolder = path.join(root, safeSegment(agentEmail, 'agent email'));
  await Promise.all(['tmp', 'new', 'cur'].map((sub) => fs.mkdir(path.join(mailboxFolder, sub), { recursive: true })));
  const name = uniqueName();
  await writeAtomically(mailboxFolder, path.join(mailboxFolder, 'new', name), raw);
  return name;
}

/** Plain code-unit order, the same on every locale. */
function compareNames(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

/** A message waiting in `new/`. */
interface Waiting {
  agentEmail: string;
  name: string;
  file: string;
  modifiedMs: number;
  size: number;
}

/** Creates the Maildir mailbox over `options.root`. */
export function createMaildirMailbox(options: MaildirMailboxOptions): Mailbox {
  const root = path.resolve(options.root);
  const parseLimits = options.parseLimits ?? DEFAULT_EMAIL_PARSE_LIMITS;
  const folderOf = (agentEmail: string): string => path.join(root, safeSegment(agentEmail, 'agent email'));

  async function addresses(): Promise<string[]> {
    let entries;
    try {
      entries = await fs.readdir(root, { withFileTypes: true });
    } catch (error) {
      if (errorCodeOf(error) === 'ENOENT') return [];
      throw transientError('mailbox_io', `cannot list ${root}`, error);
    }
    const found = entries.filter((entry) => entry.isDirectory() && ADDRESS_FOLDER.test(entry.name)).map((entry) => entry.name);
    for (const address of found) {
      await Promise.all(['tmp', 'new', 'cur'].map((sub) => fs.mkdir(path.join(root, address, sub), { recursive: true })));
    }
    return found.sort();
  }

  async function waitingIn(agentEmail: string): Promise<Waiting[]> {
    const folder = path.join(folderOf(agentEmail), 'new');
    const names = (await fs.readdir(folder)).filter((name) => !name.startsWith('.'));
    const waiting: Waiting[] = [];
    for (const name of names) {
      const file = path.join(folder, name);
      // A file may vanish between list and stat when another poller took it: skip it.
      const stats = await fs.stat(file).catch(() => null);
      if (stats?.isFile()) waiting.push({ agentEmail, name, file, modifiedMs: stats.mtimeMs, size: stats.size });
    }
    return waiting;
  }

  /** Moves a message that can never be answered out of `new/`, with the reason beside it. */
  async function reject(message: Waiting, reason: string): Promise<void> {
    const folder = path.join(folderOf(message.agentEmail), 'rejected');
    await fs.mkdir(folder, { recursive: true });
    await fs.writeFile(path.join(folder, `${message.name}.reason.txt`), `${reason}\n`);
    await fs.rename(message.file, path.join(folder, message.name)).catch((error: unknown) => {
      if (errorCodeOf(error) !== 'ENOENT') throw error;
    });
  }

  async function readOne(message: Waiting): Promise<IncomingEmail | null> {
    // Checked before reading, so a huge file is never loaded; parseEmail checks the bytes read again.
    if (message.size > parseLimits.maxBytes) {
      await reject(message, `message of ${message.size} bytes exceeds the limit of ${parseLimits.maxBytes}`);
      return null;
    }
    let raw: Buffer;
    try {
      raw = await fs.readFile(message.file);
    } catch (error) {
      if (errorCodeOf(error) === 'ENOENT') return null;
      throw transientError('mailbox_io', `cannot read ${message.file}`, error);
    }
    try {
      return await parseEmail(raw, { agentEmail: message.agentEmail, mailboxRef: message.name, limits: parseLimits });
    } catch (error) {
      // A permanent parse failure would fail on every poll: set it aside instead of crashing.
      if (error instanceof RagmailError && !error.retryable) {
        await reject(message, `${error.code}: ${error.message}`);
        return null;
      }
      throw error;
    }
  }

  async function fetchNew(limit: number): Promise<IncomingEmail[]> {
    const waiting = (await Promise.all((await addresses()).map(waitingIn))).flat();
    // Oldest first; Maildir unique names start with the delivery time, so they break ties.
    waiting.sort((left, right) => left.modifiedMs - right.modifiedMs || compareNames(left.name, right.name));
    const emails: IncomingEmail[] = [];
    for (const message of waiting) {
      if (emails.length >= limit) break;
      const email = await readOne(message);
      if (email) emails.push(email);
    }
    return emails;
  }

  async function markTaken(email: Email): Promise<void> {
    const folder = folderOf(email.agent_email);
    const name = safeSegment(email.mailbox_ref, 'mailbox ref');
    await fs.mkdir(path.join(folder, 'cur'), { recursive: true });
    try {
      await fs.rename(path.join(folder, 'new', name), path.join(folder, 'cur', `${name}${SEEN_SUFFIX}`));
    } catch (error) {
      // Already moved by an earlier, redelivered attempt: marking twice is the same as once.
      if (errorCodeOf(error) === 'ENOENT') return;
      throw transientError('mailbox_io', `cannot mark ${name} taken`, error);
    }
  }

  async function findReply(agentEmail: string, messageId: string): Promise<'sent' | 'draft' | null> {
    const name = replyFileName(messageId);
    if (await exists(path.join(folderOf(agentEmail), 'outbox', name))) return 'sent';
    if (await exists(path.join(folderOf(agentEmail), 'drafts', name))) return 'draft';
    return null;
  }

  async function store(reply: OutgoingReply, folderName: 'outbox' | 'drafts'): Promise<{ id: string }> {
    const folder = folderOf(reply.email.agent_email);
    const name = replyFileName(reply.message_id);
    const target = path.join(folder, folderName, name);
    // The same reply lands on the same file: a repeated call leaves the first one as it was.
    if (!(await exists(target))) {
      const raw = await buildReply(reply, { draft: folderName === 'drafts' });
      await writeAtomically(folder, target, raw);
    }
    return { id: name };
  }

  async function deleteDraft(agentEmail: string, messageId: string): Promise<boolean> {
    const file = path.join(folderOf(agentEmail), 'drafts', replyFileName(messageId));
    try {
      await fs.unlink(file);
      return true;
    } catch (error) {
      // Deleted already (by an earlier, redelivered attempt, or by a person): the same as deleting it now.
      if (errorCodeOf(error) === 'ENOENT') return false;
      throw transientError('mailbox_io', `cannot delete the draft ${file}`, error);
    }
  }

  return {
    provider: 'maildir',
    addresses,
    fetchNew,
    markTaken,
    findReply,
    send: (reply) => store(reply, 'outbox'),
    saveDraft: (reply) => store(reply, 'drafts'),
    deleteDraft,
  };
}
