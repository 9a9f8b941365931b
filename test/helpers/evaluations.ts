/**
 * Test questions for the api's evaluations (src/http/api/evaluations.ts): a mailbox whose sample
 * manual was uploaded through the API and ingested by the pipeline's ingester, and questions about it
 * in the JSON Lines format of `npm run eval` (README, "Your mailbox, your questions").
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { waitFor } from './broker.js';
import { ACME, SAMPLES, type Pipeline } from './pipeline.js';

export const MANUAL = 'acme-router-x200-manual.pdf';

/** Three questions: one whose answer page is found first, one whose page does not exist, one the manuals must not answer. */
export const QUESTIONS = [
  {
    id: 'reset',
    from: 'ann@example.org',
    subject: 'Forgot the admin password',
    body: "Hello,\n\nI forgot the admin password of my router's web admin. How do I reset it to factory settings?\n\nThanks,\nAnn",
    manual: MANUAL,
    answer_pages: [3],
  },
  // No page 40 in a 6-page manual: never found.
  {
    id: 'impossible',
    from: 'bob@example.org',
    subject: 'Firmware update',
    body: 'Hi, how do I update the firmware of the X200? Bob',
    manual: MANUAL,
    answer_pages: [40],
  },
  {
    id: 'refund',
    from: 'cy@example.org',
    subject: 'Refund please',
    body: 'Hello, I was charged twice for order 5531, please refund one payment. Cy',
    answerable: false,
  },
];

export const jsonl = (items: object[]) => `${items.map((item) => JSON.stringify(item)).join('\n')}\n`;

/** Uploads the sample router manual for ACME through the API and waits until the ingester has it. */
export async function ingestSampleManual(pipeline: Pipeline): Promise<void> {
  const form = new FormData();
  form.append('agent_email', ACME);
  form.append('file', new Blob([new Uint8Array(await readFile(path.join(SAMPLES, 'manuals', ACME, MANUAL)))]), MANUAL);
  const headers = { authorization: `Bearer ${pipeline.apiToken}` };
  const uploaded = await fetch(`${pipeline.apiUrl}/api/documents`, { method: 'POST', headers, body: form });
  if (uploaded.status !== 202) throw new Error(`upload: ${uploaded.status} ${await uploaded.text()}`);
  await waitFor(
    async () => {
      const answer = (await (await fetch(`${pipeline.apiUrl}/api/documents?agent_email=${encodeURIComponent(ACME)}`, { headers })).json()) as {
        documents: Array<{ status: string }>;
      };
      return answer.documents.some((document) => document.status === 'ingested');
    },
    { timeoutMs: 60_000, intervalMs: 200, what: `${MANUAL} ingested` },
  );
}
