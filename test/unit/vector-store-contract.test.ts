/**
 * Runs the vector-store contract on every implementation: SQLite lexical, SQLite hybrid with a
 * test embedder, and Pinecone through its official SDK against the loopback fake.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { createSqliteVectorStore } from '../../src/providers/vector-store/sqlite.js';
import { createPineconeVectorStore } from '../../src/providers/vector-store/pinecone.js';
import { HashedBagOfWordsEmbedder, vectorStoreContract, type VectorStoreFixture } from '../contracts/vector-store.js';
import { startFakePinecone } from '../fakes/pinecone-server.js';

function sqliteFixture(withEmbedder: boolean): VectorStoreFixture {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'ragmail-'));
  const store = createSqliteVectorStore({
    path: path.join(directory, 'vectors.db'),
    embedder: withEmbedder ? new HashedBagOfWordsEmbedder() : undefined,
  });
  return { store, dispose: async () => fs.rmSync(directory, { recursive: true, force: true }) };
}

vectorStoreContract('sqlite (lexical)', async () => sqliteFixture(false));

vectorStoreContract('sqlite (hybrid)', async () => sqliteFixture(true));

vectorStoreContract('pinecone (fake server)', async () => {
  const embedder = new HashedBagOfWordsEmbedder();
  const fake = await startFakePinecone({ dimension: embedder.dimensions });
  const store = createPineconeVectorStore({
    apiKey: `test-${randomUUID()}`,
    index: 'ragmail',
    controllerHost: fake.url,
    embedder,
  });
  return { store, dispose: () => fake.close() };
});
