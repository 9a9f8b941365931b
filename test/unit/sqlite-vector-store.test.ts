import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import { createSqliteVectorStore, extractQueryTerms } from '../../src/providers/vector-store/sqlite.js';
import type { Chunk, VectorStore } from '../../src/providers/vector-store/spec.js';
import { cjkBigrams } from '../../src/text/cjk-bigrams.js';
import type { Embedder } from '../../src/providers/embeddings/spec.js';

/**
 * A deterministic embedder: words hashed into 32 buckets, the counts normalised to length 1.
 * Bucket 0 is kept for one concept written with different words, standing in for what a real
 * model knows and FTS does not.
 */
const restartConcept = new Set(['reboot', 'restart']);

class HashedBagOfWordsEmbedder implements Embedder {
  readonly provider = 'test';
  readonly model = 'hashed-bag-of-words';
  readonly dimensions = 32;
  calls = 0;

  async embed(texts: string[]): Promise<number[][]> {
    this.calls += 1;
    return texts.map((text) => {
      const vector = new Array<number>(this.dimensions).fill(0);
      for (const word of text.toLowerCase().match(/[a-z0-9]+/g) ?? []) {
        if (restartConcept.has(word)) {
          vector[0] += 1;
          continue;
        }
        let hash = 2166136261;
        for (const character of word) {
          hash = Math.imul(hash ^ character.charCodeAt(0), 16777619) >>> 0;
        }
        vector[1 + (hash % (this.dimensions - 1))] += 1;
      }
      const length = Math.hypot(...vector) || 1;
      return vector.map((value) => value / length);
    });
  }
}

const manual: Chunk[] = [
  'To reset the admin password, hold the recessed RESET button on the back for 10 seconds until the power LED blinks amber.',
  'Firmware update: open Settings > System > Firmware Update and click Check for updates. It takes about 5 minutes.',
  'Warranty: the router has a 2 year warranty. Request an RMA in the support portal with the serial number.',
  'LED indicators: solid green means online. Blinking red means no internet connection: check the WAN cable, then restart the modem.',
].map((text, index) => ({
  document_id: 'router-manual',
  document_name: 'router-manual.pdf',
  page: index + 1,
  chunk_index: index,
  text,
}));

function withStore(name: string, body: (store: VectorStore, file: string) => Promise<void>, embedder?: Embedder): void {
  test(name, async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
    const file = path.join(directory, 'vectors.db');
    const store = createSqliteVectorStore({ path: file, embedder });
    try {
      await body(store, file);
    } finally {
      await store.close();
      fs.rmSync(directory, { recursive: true, force: true });
    }
  });
}

function assertScoresInRange(results: Array<{ score: number }>): void {
  for (const { score } of results) {
    assert.ok(score >= 0 && score <= 1, `score ${score} is outside [0, 1]`);
  }
}

withStore('the relevant chunk ranks first and scores above the irrelevant ones', async (store) => {
  await store.upsert('support@acme.example', manual);
  const results = await store.query('support@acme.example', 'How do I reset my admin password?', 4);
  assert.ok(results.length >= 1);
  assert.equal(results[0].page, 1);
  assert.equal(results[0].document_name, 'router-manual.pdf');
  assert.ok(results[0].score > 0.5, `relevant score ${results[0].score} should be high`);
  for (const other of results.slice(1)) {
    assert.ok(other.score < results[0].score);
  }
  assertScoresInRange(results);
  const firmware = await store.query('support@acme.example', 'firmware update', 2);
  assert.equal(firmware[0].page, 2);
});

withStore('a query about something the chunks never mention scores nothing', async (store) => {
  await store.upsert('support@acme.example', manual);
  assert.deepEqual(await store.query('support@acme.example', 'Do you deliver pizza to Berlin?', 3), []);
  // One shared word among many unrelated ones is weak evidence and must stay under a threshold.
  const weak = await store.query('support@acme.example', 'My invoice shows a duplicate charge for the annual subscription, also the router', 3);
  assert.ok(
    weak.every((result) => result.score < 0.15),
    `scores ${weak.map((r) => r.score)}`,
  );
});

withStore('query text made of FTS operators and punctuation never throws', async (store) => {
  await store.upsert('support@acme.example', manual);
  const hostile = [
    '"AND OR NOT * ( ) NEAR',
    'NEAR(reset password, 2) AND "unterminated',
    'text: ^reset* -password {col1 col2}: "" \'\' ; -- DROP TABLE chunks;',
    '',
    '   ',
    '!!! ??? ...',
    'ÄÖÜ résumé 東京 😀 reset',
  ];
  for (const query of hostile) {
    const results = await store.query('support@acme.example', query, 3);
    assertScoresInRange(results);
  }
  const unicode = await store.query('support@acme.example', 'ÄÖÜ résumé 東京 😀 reset', 3);
  assert.equal(unicode[0]?.page, 1, 'the one real word still finds its chunk');
  const terms = extractQueryTerms(hostile.join(' '));
  assert.ok(terms.includes('reset') && terms.includes('unterminated'));
  assert.ok(
    terms.every((term) => /^[\p{L}\p{N}]+$/u.test(term)),
    `unsafe term in ${terms.join(',')}`,
  );
});

withStore('a namespace never sees the chunks of another namespace', async (store) => {
  await store.upsert('support@acme.example', manual);
  await store.upsert('support@globex.example', [
    {
      document_id: 'thermostat',
      document_name: 'thermostat.pdf',
      page: 3,
      chunk_index: 0,
      text: 'Battery replacement: the thermostat uses two AA batteries. Reset the schedule after replacement.',
    },
  ]);
  const globex = await store.query('support@globex.example', 'reset admin password router warranty firmware', 10);
  assert.deepEqual(
    globex.map((result) => result.document_id),
    ['thermostat'],
  );
  const acme = await store.query('support@acme.example', 'thermostat AA batteries', 10);
  assert.deepEqual(acme, []);
  assert.deepEqual(await store.query('nobody@example.com', 'reset', 10), []);
});

withStore('re-ingesting a document after deleteDocument leaves no duplicates', async (store) => {
  await store.upsert('support@acme.example', manual);
  await store.upsert('support@acme.example', manual);
  const countWarranty = async (): Promise<number> =>
    (await store.query('support@acme.example', 'warranty RMA serial', 50)).filter((result) => result.text.includes('Warranty')).length;
  assert.equal(await countWarranty(), 1, 'upsert of the same chunks replaces them');
  await store.deleteDocument('support@acme.example', 'router-manual');
  assert.deepEqual(await store.query('support@acme.example', 'warranty reset firmware', 50), []);
  const shorter = manual.slice(0, 2).map((chunk) => ({ ...chunk, text: `${chunk.text} Revised edition.` }));
  await store.upsert('support@acme.example', shorter);
  const all = await store.query('support@acme.example', 'revised edition reset firmware warranty', 50);
  assert.deepEqual(all.map((result) => result.chunk_index).sort(), [0, 1]);
  assert.ok(all.every((result) => result.text.endsWith('Revised edition.')));
});

withStore('pages that tie exactly keep the order their chunks were stored in', async (store) => {
  // The same chunk in three documents scores the same in each: the one stored first ranks first,
  // whatever the documents' names.
  for (const documentId of ['zeta', 'alpha', 'mid']) {
    await store.upsert('support@acme.example', [{ ...manual[2], document_id: documentId, document_name: `${documentId}.pdf` }]);
  }
  const results = await store.query('support@acme.example', 'warranty RMA serial number', 3);
  assert.deepEqual(
    results.map((result) => result.document_id),
    ['zeta', 'alpha', 'mid'],
  );
  assert.equal(new Set(results.map((result) => result.score)).size, 1);
});

withStore('deleteDocument removes one document of one namespace only', async (store) => {
  await store.upsert('support@acme.example', manual);
  await store.upsert('support@other.example', manual);
  await store.deleteDocument('support@acme.example', 'router-manual');
  assert.deepEqual(await store.query('support@acme.example', 'warranty', 5), []);
  assert.equal((await store.query('support@other.example', 'warranty', 5)).length, 1);
});

withStore("two connections to one file see each other's writes", async (store, file) => {
  const second = createSqliteVectorStore({ path: file });
  try {
    await second.upsert('support@acme.example', manual);
    assert.equal((await store.query('support@acme.example', 'warranty RMA', 1))[0]?.page, 3);
  } finally {
    await second.close();
  }
});

const embedder = new HashedBagOfWordsEmbedder();
withStore(
  'with an embedder, hybrid retrieval ranks the relevant chunk first with scores in [0, 1]',
  async (store) => {
    await store.upsert('support@acme.example', manual);
    const callsAfterUpsert = embedder.calls;
    const results = await store.query('support@acme.example', 'reset the admin password with the button', 4);
    assert.equal(embedder.calls, callsAfterUpsert + 1, 'the query is embedded');
    assert.equal(results[0].page, 1);
    assert.ok(results[0].score > 0.5);
    assertScoresInRange(results);
    assert.deepEqual(await store.query('support@globex.example', 'reset the admin password', 4), []);
    await store.deleteDocument('support@acme.example', 'router-manual');
    assert.deepEqual(await store.query('support@acme.example', 'reset the admin password', 4), []);
    await store.upsert('support@acme.example', manual);
    const again = await store.query('support@acme.example', 'warranty RMA serial number', 10);
    assert.equal(again[0].page, 3);
    assert.equal(new Set(again.map((result) => result.chunk_index)).size, again.length, 'no duplicates');
    assertScoresInRange(again);
  },
  embedder,
);

test('with an embedder, a chunk sharing no word with the query is found through its vector', async () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
  const lexicalOnly = createSqliteVectorStore({ path: path.join(directory, 'lexical.db') });
  const hybrid = createSqliteVectorStore({ path: path.join(directory, 'hybrid.db'), embedder, similarityFloor: 0 });
  try {
    await lexicalOnly.upsert('support@acme.example', manual);
    await hybrid.upsert('support@acme.example', manual);
    assert.deepEqual(await lexicalOnly.query('support@acme.example', 'reboot', 3), []);
    const results = await hybrid.query('support@acme.example', 'reboot', 3);
    assert.equal(results[0]?.page, 4, 'the chunk that says "restart" comes first');
    assertScoresInRange(results);
  } finally {
    await lexicalOnly.close();
    await hybrid.close();
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

test('a file made with one embedding model refuses another', async () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
  const file = path.join(directory, 'vectors.db');
  try {
    await createSqliteVectorStore({ path: file, embedder }).close();
    const other: Embedder = { provider: 'test', model: 'other', dimensions: 16, embed: async () => [] };
    assert.throws(() => createSqliteVectorStore({ path: file, embedder: other }), /embedding|vectors/i);
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

const filler = (index: number) => ({
  document_id: 'radio-manual',
  document_name: 'radio-manual.pdf',
  page: 10 + index,
  chunk_index: 10 + index,
  text: `Chapter ${index}: configure the ${['clock', 'alarm', 'display', 'speaker', 'battery', 'remote'][index]} from the settings menu.`,
});

withStore('ranking is BM25 (frequency and rarity of terms), not the share of query terms, which is the score', async (store) => {
  const dedicated = {
    document_id: 'radio-manual',
    document_name: 'radio-manual.pdf',
    page: 1,
    chunk_index: 0,
    text: 'Antenna gain. The antenna gain decides the range: a higher antenna gain reaches farther. Antenna gain is set with the dial.',
  };
  const passing = {
    document_id: 'radio-manual',
    document_name: 'radio-manual.pdf',
    page: 2,
    chunk_index: 1,
    text: 'To configure the radio, read the chapters on the antenna and on gain before anything else.',
  };
  await store.upsert('support@acme.example', [dedicated, passing, ...[0, 1, 2, 3, 4, 5].map(filler)]);
  const results = await store.query('support@acme.example', 'How do I configure the antenna gain?', 2);
  assert.deepEqual(
    results.map((result) => result.page),
    [1, 2],
    'the page about antenna gain ranks first',
  );
  assert.ok(results[1].score > results[0].score, 'although the passing mention holds more of the query terms');
  assert.ok(results[1].score === 1 && results[0].score < 1);
});

withStore("at most one chunk per page is returned, the page's best", async (store) => {
  const page = (chunk_index: number, text: string) => ({ document_id: 'router-manual', document_name: 'router-manual.pdf', page: 7, chunk_index, text });
  await store.upsert('support@acme.example', [
    ...manual,
    page(10, 'Warranty claims need the receipt.'),
    page(11, 'Warranty: extend the warranty to 5 years with a warranty plan.'),
  ]);
  const results = await store.query('support@acme.example', 'extend warranty', 5);
  assert.deepEqual(
    results.map((result) => [result.page, result.chunk_index]),
    [
      [7, 11],
      [3, 2],
    ],
  );
});

withStore("a chunk's section and document title are stored and returned, and the section heading is searched", async (store) => {
  await store.upsert('support@acme.example', [
    { ...manual[0], section: 'Administration > Password', document_title: 'Router handbook' },
    { ...manual[1], text: 'Hold it pressed for ten seconds.', section: 'Reset button', document_title: 'Router handbook' },
  ]);
  const [first] = await store.query('support@acme.example', 'reset button', 1);
  assert.equal(first.chunk_index, 1, 'found through its heading only');
  assert.equal(first.section, 'Reset button');
  assert.equal(first.document_title, 'Router handbook');
});

/** A store file as an older version left it: `schema`, then `chunks` inserted through its triggers. */
function oldStoreFile(schema: string, chunks: Chunk[]): { directory: string; file: string } {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
  const file = path.join(directory, 'vectors.db');
  const old = new BetterSqlite3(file);
  old.exec(schema);
  const insert = old.prepare('INSERT INTO chunks (namespace, document_id, document_name, page, chunk_index, text) VALUES (?, ?, ?, ?, ?, ?)');
  for (const chunk of chunks) insert.run('support@acme.example', chunk.document_id, chunk.document_name, chunk.page, chunk.chunk_index, chunk.text);
  old.close();
  return { directory, file };
}

test('a file made before sections existed gets the new columns and keeps its chunks searchable', async () => {
  const { directory, file } = oldStoreFile(
    `
    CREATE TABLE chunks (id INTEGER PRIMARY KEY, namespace TEXT NOT NULL, document_id TEXT NOT NULL, document_name TEXT NOT NULL,
      page INTEGER NOT NULL, chunk_index INTEGER NOT NULL, text TEXT NOT NULL, UNIQUE (namespace, document_id, chunk_index));
    CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content = 'chunks', content_rowid = 'id', tokenize = 'porter unicode61 remove_diacritics 2');
    CREATE TRIGGER chunks_after_insert AFTER INSERT ON chunks BEGIN INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text); END;
    CREATE TRIGGER chunks_after_delete AFTER DELETE ON chunks BEGIN INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); END;
    CREATE TRIGGER chunks_after_update AFTER UPDATE ON chunks BEGIN
      INSERT INTO chunks_fts (chunks_fts, rowid, text) VALUES ('delete', old.id, old.text); INSERT INTO chunks_fts (rowid, text) VALUES (new.id, new.text); END;`,
    manual,
  );
  const store = createSqliteVectorStore({ path: file });
  try {
    assert.equal((await store.query('support@acme.example', 'warranty RMA', 1))[0]?.page, 3);
    await store.upsert('support@acme.example', [{ ...manual[3], section: 'Lights' }]);
    assert.equal((await store.query('support@acme.example', 'lights', 1))[0]?.section, 'Lights');
    await store.deleteDocument('support@acme.example', 'router-manual');
    assert.deepEqual(await store.query('support@acme.example', 'warranty lights', 5), []);
  } finally {
    await store.close();
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

const japanese: Chunk[] = [
  '現在までのバージョンでは、試験あたりの受験者数は 4,095 人まで、ページ数は 63 ページまでに限定されています。',
  'スキャンは 300dpi のグレースケールで行うことをお勧めします。',
  'Les copies sont scannées en niveaux de gris.',
].map((text, index) => ({ document_id: 'amc-ja', document_name: 'amc.ja.pdf', page: index + 10, chunk_index: index, text }));

withStore('Japanese text, written without spaces, is found by a Japanese question', async (store) => {
  await store.upsert('support@acme.example', japanese);
  const [first] = await store.query('support@acme.example', '受験者数の上限はありますか', 1);
  assert.equal(first?.page, 10);
  assert.equal((await store.query('support@acme.example', 'スキャンの解像度', 1))[0]?.page, 11);
  await store.deleteDocument('support@acme.example', 'amc-ja');
  assert.deepEqual(await store.query('support@acme.example', '受験者数', 3), [], "a deleted chunk's bigrams leave the index");
});

test('Japanese query terms are bigrams without the ones of hiragana alone (particles, endings)', () => {
  const terms = extractQueryTerms('受験者数の上限について');
  assert.deepEqual(terms, ['受験', '験者', '者数', '数の', 'の上', '上限', '限に']);
});

withStore('pseudo-relevance feedback lifts a page that shares the vocabulary of the best ones', async (store) => {
  const texts = [
    'Reset the admin password: hold the recessed button until the amber light blinks.',
    'Admin password reset uses the recessed button; the amber light blinks while it works.',
    'Hold the recessed button until the amber light blinks, and the password goes back to its default.',
    'Password rules: the password of the guest network holds eight characters.',
    'Warranty: two years, with the serial number.',
    'Firmware update: open Settings and click Check for updates.',
    'Wall mounting: two screws, at least 40 cm above the floor.',
    'The fan turns on above 60 degrees.',
  ];
  await store.upsert(
    'support@acme.example',
    texts.map((text, index) => ({ document_id: 'router', document_name: 'router.pdf', page: index + 1, chunk_index: index, text })),
  );
  const results = await store.query('support@acme.example', 'reset password', 3);
  assert.deepEqual(
    results.map((result) => result.page),
    [1, 2, 3],
    'page 3 holds "password" once, page 4 twice, but page 3 speaks of the button and light',
  );
  assert.ok(results[2].score < results[0].score, 'the score stays the share of the query the chunk holds');
});

test('a file whose index predates CJK bigrams is indexed again on opening', async () => {
  const { directory, file } = oldStoreFile(
    `
    CREATE TABLE chunks (id INTEGER PRIMARY KEY, namespace TEXT NOT NULL, document_id TEXT NOT NULL, document_name TEXT NOT NULL,
      page INTEGER NOT NULL, chunk_index INTEGER NOT NULL, text TEXT NOT NULL, section TEXT, document_title TEXT,
      UNIQUE (namespace, document_id, chunk_index));
    CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE VIRTUAL TABLE chunks_fts USING fts5(text, section, content = 'chunks', content_rowid = 'id', tokenize = 'porter unicode61 remove_diacritics 2');
    CREATE VIRTUAL TABLE chunks_terms USING fts5vocab(chunks_fts, instance);
    CREATE TRIGGER chunks_after_insert AFTER INSERT ON chunks BEGIN
      INSERT INTO chunks_fts (rowid, text, section) VALUES (new.id, new.text, new.section); END;`,
    japanese,
  );
  const store = createSqliteVectorStore({ path: file });
  try {
    assert.equal((await store.query('support@acme.example', '受験者数', 1))[0]?.page, 10);
    await store.deleteDocument('support@acme.example', 'amc-ja');
    assert.deepEqual(await store.query('support@acme.example', '受験者数 スキャン', 3), []);
  } finally {
    await store.close();
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

withStore("a French query's function words count neither in its score nor in its feedback", async (store) => {
  const texts = [
    'Empêcher le mélange des réponses d’une question : possible avec la commande AMCnoShuffle.',
    'Pour numériser les copies, nous vous conseillons une résolution de 300 dpi dans votre scanner.',
    'Est-il possible de lire votre liste des étudiants ? Oui, dans un fichier CSV pour chaque classe.',
  ];
  await store.upsert(
    'support@acme.example',
    texts.map((text, index) => ({ document_id: 'amc', document_name: 'amc.fr.pdf', page: index + 1, chunk_index: index, text })),
  );
  const [best] = await store.query('support@acme.example', 'Est-il possible, pour une question, d’empêcher dans votre logiciel le mélange des réponses ?', 3);
  assert.equal(best.page, 1);
  // Page 1 holds every word of the query but "logiciel" (0.62); counting "est", "il", "pour", "dans", "votre", which it lacks, gave 0.43.
  assert.ok(best.score > 0.55, `score ${best.score}`);
});

test("another connection's ingestion changes the figures of a store that has already answered (cached statistics are dropped)", async () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
  const file = path.join(directory, 'vectors.db');
  const reader = createSqliteVectorStore({ path: file });
  const writer = createSqliteVectorStore({ path: file });
  const chunk = (index: number, text: string): Chunk => ({ document_id: 'router', document_name: 'router.pdf', page: index + 1, chunk_index: index, text });
  try {
    await writer.upsert('support@acme.example', [chunk(0, 'The button is on the back.'), chunk(1, 'Warranty: two years.')]);
    assert.equal((await reader.query('support@acme.example', 'reset button', 1))[0]?.page, 1);
    // "reset" occurs now, in new chunks: the chunk count and its idf change, so the first chunk's share of the query does.
    await writer.upsert('support@acme.example', [chunk(2, 'A reset keeps the firmware.'), chunk(3, 'After a reset, sign in again.')]);
    const fresh = createSqliteVectorStore({ path: file });
    try {
      const expected = await fresh.query('support@acme.example', 'reset button', 3);
      assert.equal(expected.length, 3);
      assert.deepEqual(await reader.query('support@acme.example', 'reset button', 3), expected);
    } finally {
      await fresh.close();
    }
  } finally {
    await reader.close();
    await writer.close();
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

test('a file of the previous version (index version 2) gets its namespace statistics on opening', async () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
  const file = path.join(directory, 'vectors.db');
  const first = createSqliteVectorStore({ path: file });
  await first.upsert('support@acme.example', manual);
  const expected = await first.query('support@acme.example', 'warranty RMA', 2);
  await first.close();
  // What version 2 left: no statistics table, triggers without it.
  const old = new BetterSqlite3(file);
  old.exec(`DROP TABLE namespace_stats; PRAGMA user_version = 2;`);
  old.close();
  const store = createSqliteVectorStore({ path: file });
  try {
    assert.deepEqual(await store.query('support@acme.example', 'warranty RMA', 2), expected);
    await store.deleteDocument('support@acme.example', 'router-manual');
    assert.deepEqual(await store.query('support@acme.example', 'warranty RMA', 2), []);
  } finally {
    await store.close();
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

test('a write to one mailbox keeps what another connection holds of another mailbox, and a write to that mailbox is seen', async () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
  const file = path.join(directory, 'vectors.db');
  const reader = createSqliteVectorStore({ path: file });
  const writer = createSqliteVectorStore({ path: file });
  const raw = new BetterSqlite3(file);
  const mailboxA = 'support@a.example';
  const mailboxB = 'support@b.example';
  try {
    await writer.upsert(mailboxA, manual);
    await writer.upsert(mailboxB, manual);
    const answerA = await reader.query(mailboxA, 'warranty RMA serial', 2);
    assert.equal(answerA[0]?.page, 3);
    assert.equal((await reader.query(mailboxB, 'warranty RMA serial', 2))[0]?.page, 3);
    // Behind the stores' backs (no trigger raises A's generation): A's chunks leave the full-text
    // index. A reader that dropped what it holds of A would find nothing in A any more.
    raw.function('search_text', { deterministic: true }, (text: unknown) => (typeof text === 'string' ? cjkBigrams(text) : null));
    const rowsOfA = raw.prepare('SELECT id, text, section FROM chunks WHERE namespace = ?').all(mailboxA) as Array<{
      id: number;
      text: string;
      section: string | null;
    }>;
    const unindex = raw.prepare("INSERT INTO chunks_fts (chunks_fts, rowid, text, section) VALUES ('delete', ?, search_text(?), search_text(?))");
    for (const row of rowsOfA) unindex.run(row.id, row.text, row.section);
    await writer.upsert(mailboxB, [{ ...manual[2], document_id: 'other', chunk_index: 0, text: 'Warranty claims need the receipt.' }]);
    assert.deepEqual(await reader.query(mailboxA, 'warranty RMA serial', 2), answerA, "A's postings are still those read before the write to B");
    const index = raw.prepare('INSERT INTO chunks_fts (rowid, text, section) VALUES (?, search_text(?), search_text(?))');
    for (const row of rowsOfA) index.run(row.id, row.text, row.section);
    const fresh = createSqliteVectorStore({ path: file });
    try {
      assert.deepEqual(await reader.query(mailboxB, 'warranty receipt', 3), await fresh.query(mailboxB, 'warranty receipt', 3), 'the write to B is seen');
      await writer.upsert(mailboxA, manual);
      const expected = await fresh.query(mailboxA, 'warranty RMA serial', 2);
      assert.equal(expected[0]?.page, 3);
      assert.deepEqual(await reader.query(mailboxA, 'warranty RMA serial', 2), expected, 'the write to A is seen');
      await writer.deleteDocument(mailboxA, 'router-manual');
      assert.deepEqual(await reader.query(mailboxA, 'warranty RMA serial', 2), [], 'so is a deletion in A');
    } finally {
      await fresh.close();
    }
  } finally {
    raw.close();
    await reader.close();
    await writer.close();
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

test('a file of version 3 (no generations) gets them on opening', async () => {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
  const file = path.join(directory, 'vectors.db');
  const first = createSqliteVectorStore({ path: file });
  await first.upsert('support@acme.example', manual);
  const expected = await first.query('support@acme.example', 'warranty RMA', 2);
  await first.close();
  const old = new BetterSqlite3(file);
  // What version 3 left, but its triggers (dropped here, as the migration drops them): no generation.
  old.exec(`
    DROP TRIGGER chunks_after_insert; DROP TRIGGER chunks_after_delete; DROP TRIGGER chunks_after_update;
    ALTER TABLE namespace_stats DROP COLUMN generation; PRAGMA user_version = 3;`);
  old.close();
  const store = createSqliteVectorStore({ path: file });
  try {
    assert.deepEqual(await store.query('support@acme.example', 'warranty RMA', 2), expected);
    await store.deleteDocument('support@acme.example', 'router-manual');
    assert.deepEqual(await store.query('support@acme.example', 'warranty RMA', 2), []);
  } finally {
    await store.close();
    fs.rmSync(directory, { recursive: true, force: true });
  }
});

/** Rows of a store file that queries never read: chunks and vectors outside the mailbox, namespaces' statistics. */
function rowsOutside(file: string, namespace: string): { chunks: number; vectors: number; statistics: number } {
  const database = new BetterSqlite3(file, { readonly: true });
  sqliteVec.load(database);
  try {
    const count = (sql: string) => (database.prepare(sql).get(namespace) as { count: number }).count;
    const hasVectors = database.prepare("SELECT 1 FROM sqlite_master WHERE name = 'chunk_vectors'").get() !== undefined;
    return {
      chunks: count('SELECT count(*) AS count FROM chunks WHERE namespace <> ?'),
      vectors: hasVectors ? count('SELECT count(*) AS count FROM chunk_vectors WHERE chunk_id NOT IN (SELECT id FROM chunks WHERE namespace = ?)') : 0,
      statistics: count('SELECT count(*) AS count FROM namespace_stats WHERE namespace <> ?'),
    };
  } finally {
    database.close();
  }
}

/** Ids of the chunks of a mailbox, and of the vectors a nearest-neighbour search of that mailbox reaches. */
function chunkIdsOf(file: string, namespace: string): number[] {
  const database = new BetterSqlite3(file, { readonly: true });
  try {
    return database
      .prepare<[string], { id: number }>('SELECT id FROM chunks WHERE namespace = ? ORDER BY id')
      .all(namespace)
      .map((row) => row.id);
  } finally {
    database.close();
  }
}
function vectorsOf(file: string, namespace: string): number[] {
  const database = new BetterSqlite3(file, { readonly: true });
  sqliteVec.load(database);
  try {
    const anyVector = new Float32Array(32).fill(1);
    return database
      .prepare<[Float32Array, string], { chunk_id: number }>('SELECT chunk_id FROM chunk_vectors WHERE embedding MATCH ? AND k = 100 AND namespace = ?')
      .all(anyVector, namespace)
      .map((row) => row.chunk_id)
      .sort((left, right) => left - right);
  } finally {
    database.close();
  }
}

const revisedManual = manual.map((chunk) => ({
  ...chunk,
  text: chunk.text.replace('10 seconds', '15 seconds').replace('restart the modem', 'reboot the modem'),
}));

withStore(
  "replaceDocument: a dead replacement's staging rows (its process killed) are swept by a later one once hours old; a live one's are left alone",
  async (store, file) => {
    const staging = (startedMs: number, id: string) => `support@acme.example\u0000replacing\u0000${startedMs}\u0000${id}`;
    const dead = staging(Date.now() - 7 * 60 * 60 * 1000, 'dead');
    const live = staging(Date.now() - 60_000, 'live');
    // What a killed ingester leaves: batches written under its staging namespace, never swapped in.
    await store.upsert(dead, revisedManual.slice(0, 2));
    await store.upsert(live, revisedManual.slice(0, 2));
    await store.replaceDocument(
      'support@acme.example',
      'router-manual',
      (async function* () {
        yield manual;
      })(),
    );
    const rows = new BetterSqlite3(file, { readonly: true });
    try {
      const namespaces = rows.prepare('SELECT DISTINCT namespace FROM chunks ORDER BY namespace').pluck().all();
      assert.deepEqual(namespaces, ['support@acme.example', live].sort());
      assert.equal(rows.prepare('SELECT count(*) FROM namespace_stats WHERE namespace = ?').pluck().get(dead), 0);
    } finally {
      rows.close();
    }
  },
);

for (const withVectors of [false, true]) {
  const which = withVectors ? 'with an embedder' : 'lexical';
  const storeEmbedder = withVectors ? new HashedBagOfWordsEmbedder() : undefined;

  withStore(
    `replaceDocument (${which}): queries see the previous chunks until the last batch is written, then the new ones, and nothing is left behind`,
    async (store, file) => {
      await store.upsert('support@acme.example', manual);
      const seenDuring: string[] = [];
      async function* batches() {
        for (const batch of [revisedManual.slice(0, 2), revisedManual.slice(2)]) {
          yield batch;
          // The batch is written once the next is asked for.
          const [best] = await store.query('support@acme.example', 'reset the admin password seconds', 1);
          seenDuring.push(best.text);
        }
      }
      await store.replaceDocument('support@acme.example', 'router-manual', batches());
      assert.equal(seenDuring.length, 2);
      assert.ok(
        seenDuring.every((text) => text.includes('10 seconds')),
        `the previous chunk while replacing: ${JSON.stringify(seenDuring)}`,
      );
      const after = await store.query('support@acme.example', 'reset the admin password seconds', 10);
      assert.match(after[0].text, /15 seconds/);
      assert.equal(after.filter((chunk) => chunk.chunk_index === 0).length, 1, 'one copy');
      if (withVectors)
        assert.deepEqual(vectorsOf(file, 'support@acme.example'), chunkIdsOf(file, 'support@acme.example'), "each chunk's vector is in the mailbox");
      assert.deepEqual(rowsOutside(file, 'support@acme.example'), { chunks: 0, vectors: 0, statistics: 0 });
    },
    storeEmbedder,
  );

  withStore(
    `replaceDocument (${which}): batches that fail midway leave the previous chunks, and nothing of the new ones`,
    async (store, file) => {
      await store.upsert('support@acme.example', manual);
      async function* batches() {
        yield revisedManual.slice(0, 2);
        throw new Error('the document was refused midway');
      }
      await assert.rejects(store.replaceDocument('support@acme.example', 'router-manual', batches()), /refused midway/);
      const results = await store.query('support@acme.example', 'reset the admin password seconds', 10);
      assert.match(results[0].text, /10 seconds/);
      assert.ok(results.every((chunk) => !chunk.text.includes('15 seconds')));
      assert.deepEqual(rowsOutside(file, 'support@acme.example'), { chunks: 0, vectors: 0, statistics: 0 });
    },
    storeEmbedder,
  );
}
