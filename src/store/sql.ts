/**
 * The one interface every store talks to, whichever engine holds the data: SQLite (the default, one
 * file on one host) or PostgreSQL (`DATABASE_URL`, shared by every host). SQL is written once, with
 * `?` placeholders and syntax both engines accept (`INSERT … ON CONFLICT`, `RETURNING`, `IS NOT
 * DISTINCT FROM`); where they differ, a store asks {@link SqlClient.engine} for its fragment.
 */

/** Which engine a client speaks to. */
export type SqlEngine = 'sqlite' | 'postgres';

/** The database, or one open transaction of it. */
export interface SqlClient {
  readonly engine: SqlEngine;
  /** Every row `sql` returns. */
  all<Row>(sql: string, params?: readonly unknown[]): Promise<Row[]>;
  /** The first row `sql` returns, or undefined. */
  get<Row>(sql: string, params?: readonly unknown[]): Promise<Row | undefined>;
  /** Runs a statement that returns no rows; `changes` is how many rows it inserted, updated or deleted. */
  run(sql: string, params?: readonly unknown[]): Promise<{ changes: number }>;
  /**
   * Runs `work` in one transaction, committed when it resolves and rolled back when it throws.
   * Inside `work`, use `tx` only: on SQLite every other call on this database waits until the
   * transaction ends, so calling the database itself there would wait forever. Called on a
   * transaction, it nests a savepoint in it, so a store's own transaction can join a caller's (the
   * recorder records an event and its stream offset together).
   */
  transaction<R>(work: (tx: SqlClient) => Promise<R>): Promise<R>;
}

/** A lock held by one database session (see {@link SqlDatabase.tryLock}). */
export interface SessionLock {
  /** Settles when the lock is gone without `release`: its connection dropped or stopped answering. */
  readonly lost: Promise<void>;
  release(): Promise<void>;
}

/** An open database: SQLite file or PostgreSQL pool (see `openDatabase`). */
export interface SqlDatabase extends SqlClient {
  /**
   * Takes the lock `key` for this process, or null when another process holds it. On PostgreSQL a
   * session advisory lock on a connection kept for it: when the process or the connection dies, the
   * server releases the lock, so another process can take it. SQLite is one file on one host: granted.
   */
  tryLock(key: number): Promise<SessionLock | null>;
  close(): Promise<void>;
}

/** Runs `work` inside a savepoint of the open transaction `tx`: what it wrote is undone if it throws. */
export async function inSavepoint<R>(tx: SqlClient, work: (tx: SqlClient) => Promise<R>): Promise<R> {
  // One name serves every depth: both engines release or roll back the most recent savepoint of a name.
  await tx.run('SAVEPOINT nested');
  try {
    const result = await work(tx);
    await tx.run('RELEASE SAVEPOINT nested');
    return result;
  } catch (error) {
    await tx.run('ROLLBACK TO SAVEPOINT nested');
    await tx.run('RELEASE SAVEPOINT nested');
    throw error;
  }
}

/** `FOR UPDATE` where the engine locks rows (PostgreSQL); SQLite's `BEGIN IMMEDIATE` already holds the whole file. */
export function forUpdate(client: SqlClient): string {
  return client.engine === 'postgres' ? ' FOR UPDATE' : '';
}

/**
 * The text at `path` (keys, outermost first) of the JSON held in a TEXT column, as SQL: the JSON
 * functions of the two engines have nothing in common.
 */
export function jsonText(client: SqlClient, column: string, path: readonly string[]): string {
  if (client.engine === 'postgres') return `(${column}::jsonb #>> '{${path.join(',')}}')`;
  return `json_extract(${column}, '$.${path.join('.')}')`;
}

/** SQLSTATE classes and codes of PostgreSQL that say the database, not the statement, is in trouble. */
const TRANSIENT_SQLSTATE = /^(08|53|57P0[1-3]|40001$|40P01$)/;
/** Node's socket errors on the way to the database. */
const TRANSIENT_SOCKET = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
/** What node-postgres itself says when a connection is gone or cannot be had. */
const TRANSIENT_PG_MESSAGE = /Connection terminated|connection error and is not queryable|timeout exceeded when trying to connect|Client was closed/i;

/**
 * Whether `error` says the database could not be reached or was busy — a restart, a failover, a
 * lock held too long, a serialization conflict — so the same statement will succeed later, as
 * opposed to an error of the statement or of the data it was given.
 */
export function isTransientDatabaseError(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  if (typeof code === 'string' && (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_') || code === 'SQLITE_LOCKED')) return true;
  if (typeof code === 'string' && (TRANSIENT_SOCKET.has(code) || (code.length === 5 && TRANSIENT_SQLSTATE.test(code)))) return true;
  return typeof message === 'string' && TRANSIENT_PG_MESSAGE.test(message);
}
