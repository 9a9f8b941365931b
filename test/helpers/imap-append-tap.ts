/**
 * A loopback TCP front for a private Dovecot that watches what IMAP clients send and can stop an
 * APPEND to a chosen folder before the server sees it. A worker's IMAP traffic goes through it, so
 * the fault suite can SIGKILL the sender at the exact moment between SMTP's acceptance of a reply
 * and its copy in the Sent folder (the mailbox sends the APPEND only after it reported the reply
 * transmitted), which no timing from outside would hit reliably.
 */
import net from 'node:net';

/** What the tap does with an APPEND it caught. */
export type AppendVerdict = 'pass' | 'hold';

export interface ImapAppendTap {
  port: number;
  /** APPENDs to the folder seen so far, held ones included. */
  appends: number;
  /**
   * Called for each APPEND to the folder, with its 1-based number; `hold` keeps it (and all that
   * follows on its connection) from the server until the client goes away, `pass` forwards it.
   */
  onAppend: (count: number) => AppendVerdict;
  close(): Promise<void>;
}

/** Starts a tap in front of `127.0.0.1:<upstreamPort>` that catches APPENDs to `folder`. */
export async function startImapAppendTap(upstreamPort: number, folder: string): Promise<ImapAppendTap> {
  const escaped = folder.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // `<tag> APPEND Sent …` or `<tag> APPEND "Sent" …`, at the start of a command line.
  const appendCommand = new RegExp(`(^|\\r\\n)\\S+ APPEND "?${escaped}"? `, 'i');
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    let held = false;
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    client.on('data', (chunk: Buffer) => {
      if (held) return;
      if (appendCommand.test(chunk.toString('latin1'))) {
        tap.appends += 1;
        if (tap.onAppend(tap.appends) === 'hold') {
          held = true;
          return;
        }
      }
      upstream.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const tap: ImapAppendTap = {
    port: (server.address() as net.AddressInfo).port,
    appends: 0,
    onAppend: () => 'pass',
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return tap;
}
