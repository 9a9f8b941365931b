/**
 * The whole pipeline on the production providers, chosen by configuration alone: Gmail, Gemini
 * (with Claude and the local model behind it), Gemini embeddings, Pinecone and Redis, each driven
 * through its official SDK against a loopback fake, with the real RabbitMQ and Redis. What became
 * of each email is read back from the fake Gmail (sent mail, drafts, labels) and the activity log.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import PostalMime, { type Email as ParsedEmail } from 'postal-mime';
import { ROLE_NAMES } from '../../src/app/registry.js';
import { submitDocument } from '../../src/features/documents.js';
import { emailIdOf } from '../../src/pipeline/messages.js';
import { waitFor } from '../helpers/broker.js';
import { filesIn, handoffBodyFor, recipientsOf, startPipeline, waitForFinalStates, SAMPLES, type Pipeline } from '../helpers/pipeline.js';
import { CLOUD_MAILBOX, deliverSampleEmailsToGmail, startCloudStack, type CloudStack } from '../helpers/cloud-stack.js';
import { geminiErrorResponse, type RecordedRequest } from '../fakes/gemini-server.js';
import type { StoredMessage } from '../fakes/gmail-server.js';

/** Gemini quota answers scripted for the first classification calls. */
const GEMINI_QUOTA_ERRORS = 3;

/** Uploads the sample manuals of the Gmail mailbox and waits until they are ingested. */
async function ingestMailboxManuals(pipeline: Pipeline): Promise<Map<string, string>> {
  const ids = new Map<string, string>();
  for (const file of await filesIn(path.join(SAMPLES, 'manuals', CLOUD_MAILBOX), '.pdf')) {
    const upload = { agentEmail: CLOUD_MAILBOX, filename: path.basename(file), data: await readFile(file) };
    ids.set(upload.filename, (await submitDocument(pipeline.worker.broker, pipeline.vhost.config.UPLOAD_DIR, upload)).document_id);
  }
  await waitFor(
    async () => (await Promise.all([...ids.values()].map((id) => pipeline.documents.get(id)))).every((document) => document?.status === 'ingested'),
    {
      timeoutMs: 30_000,
      what: 'the sample manuals ingested',
    },
  );
  return ids;
}

/** What a recorded Gemini request asked for, and about which email (by subject). */
function describeGeminiCall(request: RecordedRequest): { task: 'classification' | 'reply' | 'embedding'; subject?: string } {
  if (request.path.endsWith(':batchEmbedContents')) return { task: 'embedding' };
  const body = request.body as { contents?: Array<{ parts?: Array<{ text?: string }> }> } | undefined;
  const prompt = body?.contents?.[0]?.parts?.map((part) => part.text ?? '').join('') ?? '';
  const subject = /<untrusted_email_[0-9a-f]{8}>\nFrom: .*\nSubject: (.*)\n/.exec(prompt)?.[1];
  return { task: /^Classify this email\./.test(prompt) ? 'classification' : 'reply', subject };
}

async function parseStored(message: StoredMessage): Promise<ParsedEmail> {
  return PostalMime.parse(message.raw);
}

test(
  'the sample emails run through Gmail, Gemini (falling back to Claude on 429), Pinecone and Redis to the expected outcome',
  { timeout: 90_000 },
  async () => {
    const stack: CloudStack = await startCloudStack();
    let pipeline: Pipeline | undefined;
    try {
      pipeline = await startPipeline(ROLE_NAMES, stack.environment);
      const { config } = pipeline.vhost;
      assert.equal(pipeline.worker.services.mailbox.provider, 'gmail');
      assert.equal(pipeline.worker.services.vectorStore.provider, 'pinecone');
      assert.equal(pipeline.worker.services.cache.provider, 'redis');

      // Ingest: chunks embedded by Gemini land in the mailbox's Pinecone namespace with their metadata.
      const manuals = await ingestMailboxManuals(pipeline);
      assert.equal(manuals.size, 2);
      const records = [...stack.pinecone.namespace(CLOUD_MAILBOX).values()];
      assert.ok(records.length > 0, 'chunks upserted to Pinecone');
      assert.ok(records.some((record) => record.metadata?.document_name === 'acme-router-x200-manual.pdf' && record.metadata.page === 3));
      assert.ok(
        stack.gemini.requests.some((request) => request.path.endsWith(':batchEmbedContents')),
        'chunks embedded by Gemini',
      );

      // Gemini's quota runs out for a while: the next Gemini calls, the first classifications, get 429.
      // No RetryInfo: with one, Gemini would rest for the delay and every call meanwhile go to Claude
      // without reaching Gemini (llm-fallback.test.ts); here each 429 is met by exactly one call.
      const geminiCallsBefore = stack.gemini.requests.length;
      for (let count = 0; count < GEMINI_QUOTA_ERRORS; count += 1) {
        stack.gemini.enqueue(geminiErrorResponse(429, 'RESOURCE_EXHAUSTED', 'Resource has been exhausted (e.g. check quota).'));
      }
      const delivered = await deliverSampleEmailsToGmail(stack.gmail);
      assert.equal(delivered.size, 11);
      const idOf = (name: string) => {
        const delivery = delivered.get(name);
        assert.ok(delivery, `sample ${name} delivered`);
        return delivery;
      };
      const emailIdOfSample = (name: string) => emailIdOf(CLOUD_MAILBOX, idOf(name).messageId.slice(1, -1));
      const summaries = await waitForFinalStates(pipeline, [...delivered.keys()].map(emailIdOfSample), 45_000);
      const stateOf = (name: string) => summaries.get(emailIdOfSample(name))!;

      // Nothing lost: every email reached an outcome other than the dead-letter queue.
      for (const name of delivered.keys()) {
        assert.notEqual(stateOf(name).state, 'dead_lettered', `${name} was dead-lettered: ${stateOf(name).error_message}`);
      }
      assert.equal(stateOf('07-newsletter.eml').state, 'skipped');
      assert.equal(stateOf('08-out-of-office.eml').state, 'skipped');
      assert.equal(stateOf('09-spam-prize.eml').state, 'ignored');
      // The cancellation question is answered by one page and nothing else: it goes out in auto mode.
      assert.equal(stateOf('11-cancel-subscription-html.eml').state, 'sent', stateOf('11-cancel-subscription-html.eml').outcome ?? '');
      // The router question has an answer too; the responder may send it or leave it as a draft (decide.ts).
      assert.ok(['sent', 'drafted'].includes(stateOf('01-router-reset.eml').state), stateOf('01-router-reset.eml').outcome ?? '');

      // The 429s met the first Gemini calls after delivery: the first is always a classification
      // (nothing else calls Gemini before one finishes), the others may be classifications or replies
      // of emails already classified. Each met call moved on to Claude; every other call stayed on Gemini.
      const quotaHits = stack.gemini.requests.slice(geminiCallsBefore, geminiCallsBefore + GEMINI_QUOTA_ERRORS).map(describeGeminiCall);
      assert.equal(quotaHits[0]?.task, 'classification', 'the first 429 met a classification');
      const nameOfSubject = (subject: string) => [...delivered.keys()].find((name) => stateOf(name).subject === subject);
      const fellBack = new Map<string, Set<string>>(); // sample name → stages Claude did
      for (const hit of quotaHits) {
        const name = hit.subject === undefined ? undefined : nameOfSubject(hit.subject);
        if (!name || hit.task === 'embedding') continue; // an embedding 429 is retried, not a fallback
        fellBack.set(name, new Set([...(fellBack.get(name) ?? []), hit.task === 'classification' ? 'classification' : 'reply']));
      }
      const classifiedBy = new Map<string, string>();
      for (const name of delivered.keys()) {
        if (stateOf(name).state === 'skipped') continue;
        const stages = stateOf(name).stages;
        classifiedBy.set(name, (stages.classified ?? stages.ignored)?.provider ?? '(none)');
        const classification = fellBack.get(name)?.has('classification') ? 'anthropic' : 'gemini';
        assert.equal(classifiedBy.get(name), classification, `${name} classified by ${classification}`);
        const replied = stages.replied?.provider;
        if (replied && replied !== 'none') {
          assert.equal(replied, fellBack.get(name)?.has('reply') ? 'anthropic' : 'gemini', `${name} replied by`);
        }
      }
      assert.equal(classifiedBy.size, 9);
      assert.ok([...classifiedBy.values()].includes('anthropic'), 'some classification came from Claude');
      assert.ok([...classifiedBy.values()].filter((provider) => provider === 'gemini').length >= 9 - GEMINI_QUOTA_ERRORS);

      // The cancellation question: answered through Gmail, in its thread, to its sender, citing the billing guide's page 3 by title.
      const cancel = idOf('11-cancel-subscription-html.eml');
      const original = stack.gmail.message(cancel.gmailId);
      assert.ok(original, 'the original is in Gmail');
      const sent = stack.gmail.sent();
      const cancelReplies: Array<{ message: StoredMessage; parsed: ParsedEmail }> = [];
      for (const message of sent) {
        const parsed = await parseStored(message);
        if (parsed.inReplyTo === cancel.messageId) cancelReplies.push({ message, parsed });
      }
      assert.equal(cancelReplies.length, 1, 'exactly one reply to the cancellation question was sent');
      const [cancelReply] = cancelReplies;
      assert.equal(cancelReply.message.threadId, original.threadId, 'the reply is in the original Gmail thread');
      assert.deepEqual(recipientsOf(cancelReply.parsed), [cancel.from]);
      assert.equal(cancelReply.parsed.from?.address, CLOUD_MAILBOX);
      assert.match(cancelReply.parsed.subject ?? '', /^Re: /);
      assert.ok(cancelReply.parsed.text?.includes('"ACME Billing Guide", page 3'), cancelReply.parsed.text);
      assert.equal(stateOf('11-cancel-subscription-html.eml').stages.retrieved?.provider, 'pinecone');
      assert.equal(stateOf('11-cancel-subscription-html.eml').sent_message_id, cancelReply.parsed.messageId);

      // The Zigbee question the manuals do not answer: a hand-off draft in Gmail, nothing sent.
      const zigbee = idOf('06-zigbee-question.eml');
      assert.equal(stateOf('06-zigbee-question.eml').state, 'handed_off', stateOf('06-zigbee-question.eml').outcome ?? '');
      const zigbeeDrafts: ParsedEmail[] = [];
      for (const message of stack.gmail.drafts()) {
        const parsed = await parseStored(message);
        if (parsed.inReplyTo === zigbee.messageId) zigbeeDrafts.push(parsed);
      }
      assert.equal(zigbeeDrafts.length, 1, 'one hand-off draft for the Zigbee question');
      const zigbeeOriginal = await parseStored(stack.gmail.message(zigbee.gmailId)!);
      assert.equal(zigbeeDrafts[0].text?.trim(), handoffBodyFor({ from: zigbee.from, from_name: zigbeeOriginal.from?.name }));
      assert.deepEqual(recipientsOf(zigbeeDrafts[0]), [zigbee.from]);

      // No reply of any kind to the automated mail or the spam.
      const answeredIds = new Set<string>();
      for (const message of [...sent, ...stack.gmail.drafts()]) answeredIds.add((await parseStored(message)).inReplyTo ?? '');
      for (const name of ['07-newsletter.eml', '08-out-of-office.eml', '09-spam-prize.eml']) {
        assert.ok(!answeredIds.has(idOf(name).messageId), `no reply to ${name}`);
      }
      // One reply or draft per answered email, none twice.
      const answeredNames = [...delivered.keys()].filter((name) => ['sent', 'drafted', 'handed_off'].includes(stateOf(name).state));
      assert.equal(sent.length + stack.gmail.drafts().length, answeredNames.length);

      // Every email the poller took carries the processed label and is no longer unread.
      const labelId = stack.gmail.userLabels().get(config.GMAIL_PROCESSED_LABEL);
      assert.ok(labelId, `label ${config.GMAIL_PROCESSED_LABEL} created`);
      for (const delivery of delivered.values()) {
        const labels = stack.gmail.message(delivery.gmailId)?.labelIds ?? new Set<string>();
        assert.ok(labels.has(labelId), `${delivery.name} labelled processed`);
        assert.ok(!labels.has('UNREAD'), `${delivery.name} marked read`);
      }
    } finally {
      await pipeline?.close();
      await stack.close();
    }
  },
);
