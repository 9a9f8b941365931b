/**
 * Integration-test support for the production providers: the loopback fakes of Gmail, Gemini,
 * Anthropic and Pinecone started together, and the environment variables that point the real
 * SDKs at them. A test passes `stack.environment` as the overrides of `createTestVhost` /
 * `startPipeline`, so configuration alone chooses every provider, as in production.
 */
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { startFakeGemini } from '../fakes/gemini-server.js';
import { startFakeAnthropic } from '../fakes/anthropic-server.js';
import { startFakePinecone, type FakePinecone } from '../fakes/pinecone-server.js';
import { startFakeGmail, type FakeGmail } from '../fakes/gmail-server.js';
import type { FakeServer } from '../fakes/scripted-http-server.js';
import { filesIn, SAMPLES } from './pipeline.js';

/** The mailbox the fake Gmail serves (`GMAIL_USER`), which is also the `agent_email`. */
export const CLOUD_MAILBOX = 'support@acme.example';
/** Credentials the fakes accept; a test spoils one of them to see a refusal. */
export const CLOUD_KEYS = {
  gemini: 'gemini-test-key',
  anthropic: 'anthropic-test-key',
  pinecone: 'pinecone-test-key',
  gmailRefreshToken: 'gmail-test-refresh-token',
} as const;
/** Embedding size used by the embedder and the fake index alike. */
export const CLOUD_DIMENSIONS = 768;
/** Where Redis is for these tests; the cache and the send claims use it. */
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** The four fakes, and the environment that selects the production providers against them. */
export interface CloudStack {
  gmail: FakeGmail;
  gemini: FakeServer;
  anthropic: FakeServer;
  pinecone: FakePinecone;
  /** Environment variables (overrides of the test vhost's configuration). */
  environment: Record<string, string>;
  close(): Promise<void>;
}

/** Starts the fakes; each one refuses any credential but those of {@link CLOUD_KEYS}. */
export async function startCloudStack(): Promise<CloudStack> {
  const started: Array<{ close(): Promise<void> }> = [];
  try {
    const gmail = await startFakeGmail({ user: CLOUD_MAILBOX, refreshToken: CLOUD_KEYS.gmailRefreshToken });
    started.push(gmail);
    const gemini = await startFakeGemini({ apiKey: CLOUD_KEYS.gemini });
    started.push(gemini);
    const anthropic = await startFakeAnthropic({ apiKey: CLOUD_KEYS.anthropic });
    started.push(anthropic);
    const pinecone = await startFakePinecone({ dimension: CLOUD_DIMENSIONS, apiKey: CLOUD_KEYS.pinecone });
    started.push(pinecone);
    const environment: Record<string, string> = {
      MAILBOX_PROVIDER: 'gmail',
      GMAIL_USER: CLOUD_MAILBOX,
      GMAIL_CLIENT_ID: 'ragmail-test-client.apps.googleusercontent.com',
      GMAIL_CLIENT_SECRET: 'ragmail-test-client-secret',
      GMAIL_REFRESH_TOKEN: CLOUD_KEYS.gmailRefreshToken,
      GMAIL_ROOT_URL: `${gmail.url}/`,
      GMAIL_TOKEN_URL: `${gmail.url}/token`,
      LLM_PROVIDERS: 'gemini,anthropic,local',
      GEMINI_API_KEY: CLOUD_KEYS.gemini,
      GEMINI_BASE_URL: gemini.url,
      ANTHROPIC_API_KEY: CLOUD_KEYS.anthropic,
      ANTHROPIC_BASE_URL: anthropic.url,
      LLM_TIMEOUT_MS: '10000',
      EMBEDDING_PROVIDER: 'gemini',
      EMBEDDING_DIMENSIONS: String(CLOUD_DIMENSIONS),
      VECTOR_STORE: 'pinecone',
      PINECONE_API_KEY: CLOUD_KEYS.pinecone,
      PINECONE_CONTROLLER_HOST: pinecone.url,
      REDIS_URL: TEST_REDIS_URL,
    };
    return {
      gmail,
      gemini,
      anthropic,
      pinecone,
      environment,
      close: async () => {
        await Promise.all(started.map((fake) => fake.close().catch(() => undefined)));
      },
    };
  } catch (error) {
    await Promise.all(started.map((fake) => fake.close().catch(() => undefined)));
    throw error;
  }
}

/** A sample email put into the fake Gmail inbox. */
export interface GmailDelivery {
  /** Sample file name. */
  name: string;
  /** The Gmail message id (the email's `mailbox_ref`). */
  gmailId: string;
  /** The Message-ID it was delivered with, in angle brackets. */
  messageId: string;
  /** The sender's address, lower case. */
  from: string;
}

/**
 * Delivers every sample email of {@link CLOUD_MAILBOX} into the fake Gmail inbox. Each gets a
 * Message-ID unique to this call: the email id is the Message-ID, and the send claims in the
 * shared Redis remember a sent email id for 30 days (with no key prefix that configuration can
 * set), so the fixed sample ids would make every run after the first see its replies as done.
 */
export async function deliverSampleEmailsToGmail(gmail: FakeGmail): Promise<Map<string, GmailDelivery>> {
  const run = randomUUID().slice(0, 8);
  const prepared: Array<Omit<GmailDelivery, 'gmailId'> & { raw: string }> = [];
  for (const file of await filesIn(path.join(SAMPLES, 'emails', CLOUD_MAILBOX), '.eml')) {
    const name = path.basename(file);
    let messageId = '';
    const raw = (await readFile(file, 'utf8')).replace(/^Message-ID:\s*<([^>]+)>/im, (_line, id: string) => {
      messageId = `<${run}.${id}>`;
      return `Message-ID: ${messageId}`;
    });
    if (!messageId) throw new Error(`sample ${name} has no Message-ID`);
    const from = /^From:.*?<?([^\s<>]+@[^\s<>]+)>?\s*$/im.exec(raw)?.[1]?.toLowerCase() ?? '';
    prepared.push({ name, messageId, from, raw });
  }
  // All at once, with no await in between, so one poll sees the whole batch.
  return new Map(prepared.map(({ raw, ...delivery }) => [delivery.name, { ...delivery, gmailId: gmail.deliver(raw) }]));
}
