/**
 * A PostgreSQL database of its own for a test file, on the server of the test machine
 * (postgres://postgres@127.0.0.1:5432, trust authentication), dropped afterwards.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';

/** The server tests use; RAGMAIL_TEST_POSTGRES_URL names another (its database part is ignored). */
export const POSTGRES_SERVER = process.env.RAGMAIL_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestPostgres {
  /** The connection URL of the new, empty database. */
  url: string;
  /** Drops the database, closing whatever connections are still open to it. */
  drop(): Promise<void>;
}

async function onServer<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_SERVER });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** Creates a uniquely named database (byte-order collation, as SQLite compares text). */
export async function createTestPostgres(): Promise<TestPostgres> {
  const name = `ragmail_test_${randomUUID().replaceAll('-', '')}`;
  await onServer((client) => client.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`));
  const url = new URL(POSTGRES_SERVER);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => onServer((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => undefined),
  };
}
