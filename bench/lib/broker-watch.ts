/**
 * What the benchmarks watch on the broker besides the pipeline's own output: how many messages wait
 * in each email queue, and the events that say a document was ingested.
 */
import amqp from 'amqplib';
import type { PipelineEvent } from '../../src/pipeline/events.js';
import { EXCHANGES, QUEUES } from '../../src/messaging/topology.js';

const EMAIL_QUEUES = [QUEUES.toClassify, QUEUES.toRespond, QUEUES.toSend];

/** Samples the depth of the email queues with passive declares (exact, unlike the management API's 5 s statistics). */
export async function sampleQueueDepths(url: string): Promise<{ maxDepth: Record<string, number>; stop(): Promise<void> }> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  const maxDepth = Object.fromEntries(EMAIL_QUEUES.map((queue) => [queue, 0]));
  let running = true;
  const loop = (async () => {
    while (running) {
      for (const queue of EMAIL_QUEUES) {
        const { messageCount } = await channel.checkQueue(queue);
        maxDepth[queue] = Math.max(maxDepth[queue], messageCount);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  return {
    maxDepth,
    async stop() {
      running = false;
      await loop.catch(() => undefined);
      await connection.close().catch(() => undefined);
    },
  };
}

/** Waits for the `ingested` (or `dead_lettered`) event of documents, on a queue of its own bound to the events exchange. */
export async function listenForDocumentEvents(
  url: string,
): Promise<{ next(documentId: string, timeoutMs: number): Promise<PipelineEvent>; close(): Promise<void> }> {
  const connection = await amqp.connect(url);
  const channel = await connection.createChannel();
  const { queue } = await channel.assertQueue('', { exclusive: true, autoDelete: true });
  for (const stage of ['ingested', 'dead_lettered']) await channel.bindQueue(queue, EXCHANGES.events, `document.${stage}`);
  const arrived = new Map<string, PipelineEvent>();
  const waiting = new Map<string, (event: PipelineEvent) => void>();
  await channel.consume(
    queue,
    (message) => {
      if (!message) return;
      const event = JSON.parse(message.content.toString('utf8')) as PipelineEvent;
      if (!event.document_id) return;
      const waiter = waiting.get(event.document_id);
      if (waiter) waiter(event);
      else arrived.set(event.document_id, event);
    },
    { noAck: true },
  );
  return {
    next: (documentId, timeoutMs) =>
      new Promise<PipelineEvent>((resolve, reject) => {
        const early = arrived.get(documentId);
        if (early) {
          arrived.delete(documentId);
          resolve(early);
          return;
        }
        const timer = setTimeout(() => reject(new Error(`document ${documentId} not ingested within ${timeoutMs} ms`)), timeoutMs);
        waiting.set(documentId, (event) => {
          clearTimeout(timer);
          waiting.delete(documentId);
          resolve(event);
        });
      }),
    close: async () => {
      await connection.close().catch(() => undefined);
    },
  };
}
