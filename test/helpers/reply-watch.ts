/**
 * Counts the writes of every reply the Maildir mailbox makes. A reply's file name is fixed by its
 * deterministic Message-ID, so a reply sent twice leaves one file, not two: counting files cannot
 * see it. But the mailbox writes each reply as a new file in `tmp/` renamed into `outbox/` or
 * `drafts/`, so every write puts a new inode under the name. The watch notes the inode each time
 * the name changes; more than one inode for a name is a reply written more than once.
 *
 * inotify merges events that pile up unread, so two writes a few milliseconds apart can look like
 * one: the count is a lower bound. A second send after a crash or a redelivery comes much later
 * and is seen.
 */
import { mkdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';

export type ReplyFolder = 'outbox' | 'drafts';

export class ReplyWatch {
  private readonly watchers: FSWatcher[] = [];
  private readonly inodes = new Map<string, Set<number>>();
  private readonly problems: string[] = [];
  private readonly listeners = new Set<(key: string) => void>();

  /** Watches `outbox/` and `drafts/` of each mailbox under `root`, creating them first. */
  constructor(
    private readonly root: string,
    mailboxes: readonly string[],
  ) {
    for (const mailbox of mailboxes) {
      for (const folder of ['outbox', 'drafts'] as const) {
        const directory = path.join(root, mailbox, folder);
        mkdirSync(directory, { recursive: true });
        const watcher = watch(directory, (event, filename) => {
          if (event !== 'rename' || !filename?.endsWith('.eml')) return;
          this.note(mailbox, folder, filename);
          for (const listener of this.listeners) listener(this.key(mailbox, folder, filename));
        });
        watcher.on('error', (error) => this.problems.push(`${directory}: ${error.message}`));
        this.watchers.push(watcher);
      }
    }
  }

  /** How many times the reply file `filename` was written into `folder` of `mailbox` (at least). */
  writesOf(mailbox: string, folder: ReplyFolder, filename: string): number {
    // The file as it is now counts too, in case its last write was never reported.
    this.note(mailbox, folder, filename);
    return this.inodes.get(this.key(mailbox, folder, filename))?.size ?? 0;
  }

  /** Calls `listener` with `mailbox/folder/filename` as each reply is written; returns the way to stop. */
  onWrite(listener: (key: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Every reply file seen, as `mailbox/folder/filename`. */
  seen(): string[] {
    return [...this.inodes.keys()];
  }

  /** Watch errors (an overflowing event queue would be one): the counts are not to be trusted then. */
  errors(): readonly string[] {
    return this.problems;
  }

  close(): void {
    for (const watcher of this.watchers) watcher.close();
  }

  private note(mailbox: string, folder: ReplyFolder, filename: string): void {
    const inode = statSync(path.join(this.root, mailbox, folder, filename), { throwIfNoEntry: false })?.ino;
    if (inode === undefined) return;
    const key = this.key(mailbox, folder, filename);
    this.inodes.set(key, (this.inodes.get(key) ?? new Set()).add(inode));
  }

  private key(mailbox: string, folder: ReplyFolder, filename: string): string {
    return `${mailbox}/${folder}/${filename}`;
  }
}
