/**
 * A loopback TCP front for a private Postfix that can hold back the server's answer to the end of a
 * message (the 250 after DATA's final dot). A worker's SMTP traffic goes through it, so the fault
 * suite can SIGKILL the sender inside the SMTP transaction: the server has the message and will
 * deliver it, the sender never learns so, which no timing from outside would hit reliably.
 */
import net from 'node:net';

/** What the tap does with the answer to a message's end. */
export type AnswerVerdict = 'pass' | 'hold';

export interface SmtpDataTap {
  port: number;
  /** Messages whose end the server answered so far, held ones included. */
  messages: number;
  /**
   * Called for each answer to a message's end, with its 1-based number; `hold` keeps it (and all
   * that follows on its connection) from the client until the client goes away, `pass` forwards it.
   */
  onAnswer: (count: number) => AnswerVerdict;
  close(): Promise<void>;
}

/** The end of a message's data: dot-stuffing keeps it from occurring inside one. */
const END_OF_DATA = '\r\n.\r\n';

/** Starts a tap in front of `127.0.0.1:<upstreamPort>`. */
export async function startSmtpDataTap(upstreamPort: number): Promise<SmtpDataTap> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(upstreamPort, '127.0.0.1');
    sockets.add(client).add(upstream);
    // The client's last bytes, so an end split between two chunks is still seen.
    let tail = '';
    let awaitingAnswer = false;
    let held = false;
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.on('data', (chunk: Buffer) => {
      const seen = tail + chunk.toString('latin1');
      if (seen.includes(END_OF_DATA)) awaitingAnswer = true;
      tail = seen.slice(-(END_OF_DATA.length - 1));
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (held) return;
      if (awaitingAnswer) {
        awaitingAnswer = false;
        tap.messages += 1;
        if (tap.onAnswer(tap.messages) === 'hold') {
          held = true;
          return;
        }
      }
      client.write(chunk);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const tap: SmtpDataTap = {
    port: (server.address() as net.AddressInfo).port,
    messages: 0,
    onAnswer: () => 'pass',
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return tap;
}
