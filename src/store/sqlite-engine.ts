/**
 * The SQLite engine of {@link SqlDatabase}: one better-sqlite3 connection to a file that several
 * worker processes of one host may open at once, so it runs in WAL mode with a busy timeout, and a
 * transaction takes the write lock up front (`BEGIN IMMEDIATE`): two processes that both
 * read-then-write never deadlock on a lock upgrade (the loser waits up to the busy timeout).
 *
 * better-sqlite3 is synchronous, but a transaction's work is async: while one is open, every other
 * call on the connection waits its turn in a queue, so nothing interleaves with it.
 */
import fs from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { emailIdOf } from '../pipeline/messages.js';
import { MIGRATIONS, SCHEMA_VERSION, assertKnownVersion } from './migrations.js';
import { inSavepoint, type SessionLock, type SqlClient, type SqlDatabase } from './sql.js';

/** How long a connection waits for another process's write lock before failing with SQLITE_BUSY. */
export const BUSY_TIMEOUT_MS = 5000;

type Parameters = readonly unknown[];

class SqliteDatabase implements SqlDatabase {
  readonly engine = 'sqlite' as const;
  /**
   * Compiled statements by SQL text: the stores run the same few statements for every event and
   * email, and compiling them each time cost the recorder a third of its CPU (BENCHMARKS.md).
   */
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  /** The end of the queue of work waiting behind an open transaction, and how much is in it. */
  private tail: Promise<unknown> = Promise.resolve();
  private waiting = 0;
  /** The client a transaction's work uses: it runs at once, since the transaction holds the queue. */
  private readonly direct: SqlClient = {
    engine: 'sqlite',
    all: async <Row>(sql: string, params: Parameters = []) => this.statement(sql).all(...params) as Row[],
    get: async <Row>(sql: string, params: Parameters = []) => this.statement(sql).get(...params) as Row | undefined,
    run: async (sql: string, params: Parameters = []) => ({ changes: this.statement(sql).run(...params).changes }),
    transaction: (work) => inSavepoint(this.direct, work),
  };

  constructor(private readonly connection: BetterSqlite3.Database) {}

  all<Row>(sql: string, params?: Parameters): Promise<Row[]> {
    return this.inTurn(() => this.direct.all<Row>(sql, params));
  }

  get<Row>(sql: string, params?: Parameters): Promise<Row | undefined> {
    return this.inTurn(() => this.direct.get<Row>(sql, params));
  }

  run(sql: string, params?: Parameters): Promise<{ changes: number }> {
    return this.inTurn(() => this.direct.run(sql, params));
  }

  transaction<R>(work: (tx: SqlClient) => Promise<R>): Promise<R> {
    return this.queued(async () => {
      this.connection.exec('BEGIN IMMEDIATE');
      try {
        const result = await work(this.direct);
        this.connection.exec('COMMIT');
        return result;
      } catch (error) {
        if (this.connection.inTransaction) this.connection.exec('ROLLBACK');
        throw error;
      }
    });
  }

  /** One file on one host: every process that opens it may hold the lock, as before there was one. */
  async tryLock(): Promise<SessionLock> {
    return { lost: new Promise(() => undefined), release: async () => undefined };
  }

  async close(): Promise<void> {
    await this.queued(async () => this.connection.close());
  }

  private statement(sql: string): BetterSqlite3.Statement {
    let statement = this.statements.get(sql);
    if (statement === undefined) {
      statement = this.connection.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  /** A single statement runs at once unless something is queued, which it then joins. */
  private inTurn<R>(work: () => Promise<R>): Promise<R> {
    return this.waiting === 0 ? work() : this.queued(work);
  }

  private queued<R>(work: () => Promise<R>): Promise<R> {
    this.waiting += 1;
    const result = this.tail.then(work);
    this.tail = result.then(
      () => (this.waiting -= 1),
      () => (this.waiting -= 1),
    );
    return result;
  }
}

/** Applies every migration newer than the file's `user_version`, in one transaction. */
function migrate(connection: BetterSqlite3.Database): void {
  connection
    .transaction(() => {
      const current = Number(connection.pragma('user_version', { simple: true }));
      assertKnownVersion(current);
      for (let version = current + 1; version <= SCHEMA_VERSION; version += 1) {
        connection.exec(MIGRATIONS[version - 1].sqlite);
        connection.pragma(`user_version = ${version}`);
      }
    })
    .immediate();
}

/**
 * Opens (creating when needed) the SQLite file at `filePath` and brings its schema up to date.
 * `:memory:` gives a private in-memory database, for tests.
 */
export function openSqlite(filePath: string): SqlDatabase {
  const inMemory = filePath === ':memory:' || filePath === '';
  if (!inMemory) fs.mkdirSync(path.dirname(path.resolve(filePath)), { recursive: true });
  const connection = new BetterSqlite3(filePath);
  try {
    connection.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
    // WAL lets readers (dashboard) run while a worker writes; NORMAL sync is durable in WAL mode
    // except for the last transactions on power loss, which at-least-once delivery tolerates.
    if (!inMemory) connection.pragma('journal_mode = WAL');
    connection.pragma('synchronous = NORMAL');
    connection.pragma('foreign_keys = ON');
    // Migration 8 derives the per-mailbox email ids; SQLite has no sha256 to do it in SQL.
    connection.function('ragmail_email_id', { deterministic: true }, (mailbox: unknown, key: unknown) =>
      typeof mailbox === 'string' && typeof key === 'string' ? emailIdOf(mailbox, key) : null,
    );
    migrate(connection);
    return new SqliteDatabase(connection);
  } catch (error) {
    connection.close();
    throw error;
  }
}
