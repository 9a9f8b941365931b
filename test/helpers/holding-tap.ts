/**
 * A loopback TCP front for a private mail server that can hold back one direction of a
 * connection at a chosen moment of its protocol. A worker's traffic goes through it, so the fault
 * suite can SIGKILL the sender at an exact point no timing from outside would hit reliably:
 *
 * - {@link startImapAppendTap}: an APPEND to a folder, stopped before Dovecot sees it (between
 *   SMTP's acceptance of a reply and its copy in the Sent folder);
 * - {@link startSmtpDataTap}: Postfix's answer to the end of a message (the 250 after DATA's final
 *   dot), kept from the sender: the server has the message and will deliver it, the sender never
 *   learns so.
 */
import net from 'node:net';

/** What the tap does with a moment it caught. */
export type TapVerdict = 'pass' | 'hold';

export interface HoldingTap {
  port: number;
  /** Moments caught so far, held ones included. */
  caught: number;
  /**
   * Called for each moment caught, with its 1-based number; `hold` keeps it (and all that follows
   * in its direction on its connection) from the other side until the client goes away, `pass`
   * forwards it.
   */
  onCatch: (count: number) => TapVerdict;
  close(): Promise<void>;
}

/** Per connection: which chunk of each direction is a moment to catch. Both see every chunk, in order. */
interface Watcher {
  fromClient(chunk: string): boolean;
  fromServer(chunk: string): boolean;
}

/** Starts a tap in front of `127.0.0.1:<upstreamPort>`, watching each connection with a new `watcher()`. */
async function startHoldingTap(upstreamPort: number, watcher: () => Watcher): Promise<HoldingTap> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    const watch = watcher();
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    const relay = (from: net.Socket, to: net.Socket, isMoment: (chunk: string) => boolean) => {
      let held = false;
      from.on('data', (chunk: Buffer) => {
        if (held) return;
        if (isMoment(chunk.toString('latin1'))) {
          tap.caught += 1;
          if (tap.onCatch(tap.caught) === 'hold') {
            held = true;
            return;
          }
        }
        to.write(chunk);
      });
    };
    relay(client, upstream, (chunk) => watch.fromClient(chunk));
    relay(upstream, client, (chunk) => watch.fromServer(chunk));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const tap: HoldingTap = {
    port: (server.address() as net.AddressInfo).port,
    caught: 0,
    onCatch: () => 'pass',
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return tap;
}

/** A tap in front of Dovecot that catches each APPEND to `folder`. */
export function startImapAppendTap(upstreamPort: number, folder: string): Promise<HoldingTap> {
  const escaped = folder.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  // `<tag> APPEND Sent …` or `<tag> APPEND "Sent" …`, at the start of a command line.
  const appendCommand = new RegExp(`(^|\\r\\n)\\S+ APPEND "?${escaped}"? `, 'i');
  return startHoldingTap(upstreamPort, () => ({ fromClient: (chunk) => appendCommand.test(chunk), fromServer: () => false }));
}

/** The end of a message's data: dot-stuffing keeps it from occurring inside one. */
const END_OF_DATA = '\r\n.\r\n';

/** A tap in front of Postfix that catches each answer to the end of a message. */
export function startSmtpDataTap(upstreamPort: number): Promise<HoldingTap> {
  return startHoldingTap(upstreamPort, () => {
    // The client's last bytes, so an end split between two chunks is still seen.
    let tail = '';
    let awaitingAnswer = false;
    return {
      fromClient: (chunk) => {
        const seen = tail + chunk;
        if (seen.includes(END_OF_DATA)) awaitingAnswer = true;
        tail = seen.slice(-(END_OF_DATA.length - 1));
        return false;
      },
      fromServer: () => {
        const answer = awaitingAnswer;
        awaitingAnswer = false;
        return answer;
      },
    };
  });
}
