/**
 * New mail announced by the server: a second IMAP connection waits in the watched folder with IDLE
 * (RFC 2177), so the poller takes a message as soon as it arrives and the first connection stays
 * free for reading and sending. imapflow restarts IDLE every 30 s, under the socket timeout, and
 * polls with NOOP on a server without IDLE.
 */
import type { ImapFlow } from 'imapflow';
import { imapError } from './mail-server-errors.js';
import { connectImap, reportConnectionError, type ConnectionLogger, type MailServers } from './mail-servers.js';

/** The `waitForNew` of a mailbox, and the connection behind it. */
export interface IdleWatcher {
  /** Resolves when the server announced a message, after `maxWaitMs`, or when `signal` aborts. */
  waitForNew(maxWaitMs: number, signal: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

/** Watches `folder`; nothing connects before the first wait. */
export function createIdleWatcher(settings: MailServers & { logger?: ConnectionLogger }, folder: string): IdleWatcher {
  let idler: ImapFlow | undefined;
  let connecting: Promise<ImapFlow> | undefined;
  /** The server announced a message since the last wait (or the connection is new): look at once. */
  let announced = false;

  function connection(): Promise<ImapFlow> {
    if (idler?.usable) return Promise.resolve(idler);
    connecting ??= (async () => {
      const client = await connectImap(settings, { maxIdleTime: 30_000 }, (unconnected) => {
        unconnected.on('error', (error: Error) => reportConnectionError(settings.logger, 'imap idle connection error', error));
        unconnected.on('exists', () => (announced = true));
      });
      try {
        await client.mailboxOpen(folder, { readOnly: true });
      } catch (error) {
        client.close();
        throw imapError('idle', error);
      }
      // Mail may have come between the poller's last look and this SELECT: look once more.
      announced = true;
      idler = client;
      return client;
    })().finally(() => (connecting = undefined));
    return connecting;
  }

  async function waitForNew(maxWaitMs: number, signal: AbortSignal): Promise<void> {
    let client: ImapFlow | undefined;
    try {
      client = await connection();
    } catch (error) {
      // No IDLE now: the poller's interval is the fallback, as on a server without IDLE.
      settings.logger?.warn('imap idle unavailable; polling', { error: (error as Error).message });
    }
    await new Promise<void>((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', finish);
        client?.off('exists', finish);
        client?.off('close', finish);
        resolve();
      };
      const timer = setTimeout(finish, maxWaitMs);
      if (signal.aborted || announced) return finish();
      signal.addEventListener('abort', finish, { once: true });
      if (!client) return;
      client.on('exists', finish);
      client.on('close', finish);
      // IDLE stays on between waits, so what the server announces meanwhile is heard (`announced`).
      client.idle().catch(() => undefined);
    });
    announced = false;
  }

  async function close(): Promise<void> {
    const client = idler;
    idler = undefined;
    if (client?.usable) await client.logout().catch(() => client.close());
  }

  return { waitForNew, close };
}
