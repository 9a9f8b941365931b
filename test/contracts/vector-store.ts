/**
 * The contract every VectorStore passes (SQLite lexical, SQLite hybrid, Pinecone behind its
 * loopback fake): relevant chunks first with scores in [0, 1], namespaces isolated, re-ingest
 * without duplicates, a document replaced batch by batch, nothing from an empty namespace.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Embedder } from '../../src/providers/embeddings/spec.js';
import type { Chunk, ScoredChunk, VectorStore } from '../../src/providers/vector-store/spec.js';

/** A store made fresh for one test, and how to dispose of it and what it used. */
export interface VectorStoreFixture {
  store: VectorStore;
  /** Releases what the fixture made (temporary files, fake servers); the suite closes the store first. */
  dispose(): Promise<void>;
}

/** Words that carry no subject; the test embedder leaves them out, as a real model weighs them little. */
const fillerWords = new Set('a an and are at be by can do does for from how i in is it my of on or the this to what when with you your'.split(' '));

/**
 * A deterministic embedder for tests: content words hashed (FNV-1a) into `dimensions` buckets,
 * the counts normalised to length 1. Texts sharing words get a high cosine similarity.
 */
export class HashedBagOfWordsEmbedder implements Embedder {
  readonly provider = 'test';
  readonly model = 'hashed-bag-of-words';
  /** Number of `embed` calls, for tests that count batches. */
  calls = 0;

  constructor(readonly dimensions = 64) {}

  async embed(texts: string[]): Promise<number[][]> {
    this.calls += 1;
    return texts.map((text) => {
      const vector = new Array<number>(this.dimensions).fill(0);
      for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
        if (fillerWords.has(word)) continue;
        let hash = 2166136261;
        for (const character of word) hash = Math.imul(hash ^ character.charCodeAt(0), 16777619) >>> 0;
        vector[hash % this.dimensions] += 1;
      }
      const length = Math.hypot(...vector) || 1;
      return vector.map((value) => value / length);
    });
  }
}

const acme = 'support@acme.example';
const globex = 'support@globex.example';

/** A router manual of four chunks; the question below is answered by chunk 0 only. */
export const routerManual: Chunk[] = [
  'Reset the admin password: hold the recessed reset button on the back of the router for 10 seconds until the power LED blinks.',
  'Firmware update: open Settings, System, Firmware Update and click Check for updates. The update takes about 5 minutes.',
  'Warranty: the router has a 2 year warranty. Request an RMA in the support portal with the serial number.',
  'LED indicators: solid green means online. Blinking red means no internet connection; check the WAN cable.',
].map((text, index) => ({ document_id: 'router-manual', document_name: 'router-manual.pdf', page: index + 1, chunk_index: index, text }));

/** A second document, in another namespace in the isolation test. */
const billingGuide: Chunk[] = [
  'Invoices are sent on the first day of each month. Download past invoices from the billing page.',
  'To change the payment card, open the billing page and choose Update payment method.',
].map((text, index) => ({ document_id: 'billing-guide', document_name: 'billing-guide.pdf', page: 1, chunk_index: index, text }));

const passwordQuestion = 'How do I reset the admin password of my router with the reset button?';
const invoiceQuestion = 'Where can I download my past invoices from the billing page?';

function assertWellFormed(results: ScoredChunk[], k: number): void {
  assert.ok(results.length <= k, `at most k = ${k} results, got ${results.length}`);
  for (const result of results) {
    assert.ok(result.score >= 0 && result.score <= 1, `score ${result.score} is outside [0, 1]`);
  }
}

const key = (chunk: Chunk): string => `${chunk.document_id}#${chunk.chunk_index}`;

/**
 * Registers the contract's tests for one implementation. `makeStore` gives each test a fresh,
 * empty store.
 */
export function vectorStoreContract(name: string, makeStore: () => Promise<VectorStoreFixture>): void {
  async function withStore(body: (store: VectorStore) => Promise<void>): Promise<void> {
    const fixture = await makeStore();
    try {
      await body(fixture.store);
    } finally {
      await fixture.store.close();
      await fixture.dispose();
    }
  }

  test(`${name}: the chunk that answers the question ranks first, with its metadata and a score in [0, 1]`, () =>
    withStore(async (store) => {
      await store.upsert(acme, [...routerManual, ...billingGuide]);
      const results = await store.query(acme, passwordQuestion, 3);
      assert.ok(results.length > 0, 'something is found');
      assertWellFormed(results, 3);
      assert.deepEqual(
        { ...results[0], score: undefined },
        { ...routerManual[0], score: undefined },
        'the reset-password chunk comes first, with document, page, index and text intact',
      );
      assert.ok(results[0].score > 0, 'a relevant chunk scores above 0');
      const invoice = await store.query(acme, invoiceQuestion, 2);
      assert.equal(key(invoice[0]), key(billingGuide[0]), 'another question finds another chunk');
    }));

  test(`${name}: a namespace never returns another namespace's chunks`, () =>
    withStore(async (store) => {
      await store.upsert(acme, routerManual);
      await store.upsert(globex, billingGuide);
      const fromGlobex = await store.query(globex, passwordQuestion, 10);
      assert.ok(
        fromGlobex.every((result) => result.document_id === 'billing-guide'),
        'only globex chunks',
      );
      const fromAcme = await store.query(acme, invoiceQuestion, 10);
      assert.ok(
        fromAcme.every((result) => result.document_id === 'router-manual'),
        'only acme chunks',
      );
      assert.equal(key((await store.query(globex, invoiceQuestion, 1))[0]), key(billingGuide[0]));
    }));

  test(`${name}: re-upserting replaces chunks, and deleteDocument then upsert leaves no duplicates`, () =>
    withStore(async (store) => {
      await store.upsert(acme, [...routerManual, ...billingGuide]);
      await store.upsert(acme, routerManual);
      let results = await store.query(acme, passwordQuestion, 20);
      assert.equal(results.filter((result) => key(result) === key(routerManual[0])).length, 1, 'once after re-upsert');

      await store.deleteDocument(acme, 'router-manual');
      results = await store.query(acme, passwordQuestion, 20);
      assert.ok(
        results.every((result) => result.document_id !== 'router-manual'),
        'the deleted document is gone',
      );
      assert.equal(key((await store.query(acme, invoiceQuestion, 1))[0]), key(billingGuide[0]), 'the other document stays');

      const revised = routerManual.map((chunk) => ({ ...chunk, text: chunk.text.replace('10 seconds', '15 seconds') }));
      await store.upsert(acme, revised);
      results = await store.query(acme, passwordQuestion, 20);
      const matching = results.filter((result) => key(result) === key(routerManual[0]));
      assert.equal(matching.length, 1, 'exactly one copy after delete and re-ingest');
      assert.match(matching[0].text, /15 seconds/, 'the new text replaced the old');
      assert.equal(new Set(results.map(key)).size, results.length, 'no duplicate chunk in the results');
    }));

  test(`${name}: replaceDocument makes a document's chunks those of its batches, taken one at a time, and leaves other documents`, () =>
    withStore(async (store) => {
      await store.upsert(acme, [...routerManual, ...billingGuide]);
      const revised = routerManual.slice(0, 3).map((chunk) => ({ ...chunk, text: chunk.text.replace('10 seconds', '15 seconds') }));
      const taken: number[] = [];
      async function* batches() {
        for (const batch of [revised.slice(0, 2), revised.slice(2)]) {
          taken.push(batch.length);
          yield batch;
        }
      }
      await store.replaceDocument(acme, 'router-manual', batches());
      assert.deepEqual(taken, [2, 1], 'both batches taken');
      const results = await store.query(acme, passwordQuestion, 20);
      const matching = results.filter((result) => key(result) === key(routerManual[0]));
      assert.equal(matching.length, 1, 'one copy of the replaced chunk');
      assert.match(matching[0].text, /15 seconds/, 'the new text replaced the old');
      const led = await store.query(acme, 'LED indicators solid green blinking red WAN cable', 20);
      assert.ok(
        led.every((result) => key(result) !== key(routerManual[3])),
        'a chunk the new version no longer has is gone',
      );
      assert.equal(key((await store.query(acme, invoiceQuestion, 1))[0]), key(billingGuide[0]), 'the other document stays');
    }));

  test(`${name}: a query on an empty or unknown namespace returns []`, () =>
    withStore(async (store) => {
      assert.deepEqual(await store.query(acme, passwordQuestion, 5), []);
      await store.upsert(acme, routerManual);
      assert.deepEqual(await store.query('nobody@empty.example', passwordQuestion, 5), []);
      await store.deleteDocument('nobody@empty.example', 'router-manual');
    }));
}
