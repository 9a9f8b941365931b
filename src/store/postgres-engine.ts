/**
 * The PostgreSQL engine of {@link SqlDatabase}: a connection pool that every host shares, so the
 * send ledger's claims and the daily quota hold across hosts. A transaction runs on one pooled
 * client between `BEGIN` and `COMMIT`; stores lock what they read before writing it
 * (`SELECT … FOR UPDATE`, see `forUpdate`) or write in one atomic statement.
 *
 * Rows come back shaped as SQLite's: BIGINT columns (epoch milliseconds, `COUNT(*)`) as numbers —
 * on this pool's own type parsers, so no other `pg` user in the process is affected.
 */
import pg from 'pg';
import { MIGRATIONS, SCHEMA_VERSION, assertKnownVersion } from './migrations.js';
import { inSavepoint, type SessionLock, type SqlClient, type SqlDatabase } from './sql.js';

/** int8's type id: its values stay below 2^53 here (milliseconds, counts, offsets). */
const INT8_OID = 20;

/** Key of the advisory lock that serialises migrations of processes booting together. */
const MIGRATION_LOCK = 7_301_219;

/**
 * How often a held session lock's connection must answer: a connection the server dropped without
 * the socket telling (a network that went silent) would otherwise keep its holder working while
 * the server has given the lock to another process.
 */
const LOCK_HEARTBEAT_MS = 5_000;

type Parameters = readonly unknown[];
type Queryable = pg.Pool | pg.PoolClient;

/** `sql` with each `?` outside quotes numbered `$1`, `$2`, … as PostgreSQL wants them. */
export function numberPlaceholders(sql: string): string {
  let result = '';
  let quote: string | undefined;
  let count = 0;
  for (const character of sql) {
    if (quote !== undefined) {
      if (character === quote) quote = undefined;
      result += character;
    } else if (character === "'" || character === '"') {
      quote = character;
      result += character;
    } else if (character === '?') {
      count += 1;
      result += `$${count}`;
    } else {
      result += character;
    }
  }
  return result;
}

class PostgresClient implements SqlClient {
  readonly engine = 'postgres' as const;

  constructor(
    protected readonly target: Queryable,
    private readonly texts: Map<string, string>,
  ) {}

  async all<Row>(sql: string, params: Parameters = []): Promise<Row[]> {
    return (await this.query(sql, params)).rows as Row[];
  }

  async get<Row>(sql: string, params: Parameters = []): Promise<Row | undefined> {
    return (await this.query(sql, params)).rows[0] as Row | undefined;
  }

  async run(sql: string, params: Parameters = []): Promise<{ changes: number }> {
    return { changes: (await this.query(sql, params)).rowCount ?? 0 };
  }

  /** On a transaction's client: a savepoint. {@link PostgresDatabase} opens a transaction instead. */
  transaction<R>(work: (tx: SqlClient) => Promise<R>): Promise<R> {
    return inSavepoint(this, work);
  }

  private query(sql: string, params: Parameters): Promise<pg.QueryResult> {
    let text = this.texts.get(sql);
    if (text === undefined) {
      text = numberPlaceholders(sql);
      this.texts.set(sql, text);
    }
    return this.target.query(text, params as unknown[]);
  }
}

class PostgresDatabase extends PostgresClient implements SqlDatabase {
  constructor(
    private readonly pool: pg.Pool,
    private readonly shared: Map<string, string>,
  ) {
    super(pool, shared);
  }

  override transaction<R>(work: (tx: SqlClient) => Promise<R>): Promise<R> {
    return inTransaction(this.pool, (client) => work(new PostgresClient(client, this.shared)));
  }

  async tryLock(key: number): Promise<SessionLock | null> {
    const client = await this.pool.connect();
    let granted = false;
    try {
      // The server notices a holder that vanished without closing its connection (a node lost, a
      // network cut) within about 20 s, not the 2 hours of the kernel's default keepalive, and
      // frees the lock for a standby.
      await client.query('SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 3');
      granted = (await client.query<{ granted: boolean }>('SELECT pg_try_advisory_lock($1) AS granted', [key])).rows[0].granted;
    } finally {
      if (!granted) client.release();
    }
    return granted ? holdLock(client, key) : null;
  }

  close(): Promise<void> {
    return this.pool.end();
  }
}

/** The session lock `key` that `client` holds: kept until released, watched until then. */
function holdLock(client: pg.PoolClient, key: number): SessionLock {
  let markLost!: () => void;
  let gone = false;
  const lost = new Promise<void>((resolve) => {
    markLost = () => {
      gone = true;
      resolve();
    };
  });
  // A held client has no idle-error listener of the pool's: without one, its connection's end would crash the process.
  client.on('error', markLost);
  client.on('end', markLost);
  const heartbeat = setInterval(() => {
    const timeout = new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('no answer')), LOCK_HEARTBEAT_MS).unref());
    Promise.race([client.query('SELECT 1'), timeout]).catch(markLost);
  }, LOCK_HEARTBEAT_MS);
  heartbeat.unref();
  return {
    lost,
    release: async () => {
      clearInterval(heartbeat);
      if (!gone) await client.query('SELECT pg_advisory_unlock($1)', [key]).catch(markLost);
      client.off('error', markLost);
      client.off('end', markLost);
      // A connection that failed is closed rather than handed back to the pool.
      client.release(gone);
    },
  };
}

/**
 * Applies every migration newer than the `schema_version` table says, in one transaction under an
 * advisory lock, so two processes booting together apply each migration once.
 */
function migrate(pool: pg.Pool): Promise<void> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
    await client.query('CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)');
    const row = (await client.query<{ version: number }>('SELECT version FROM schema_version')).rows[0];
    const current = row?.version ?? 0;
    assertKnownVersion(current);
    for (let version = current + 1; version <= SCHEMA_VERSION; version += 1) {
      await client.query(MIGRATIONS[version - 1].postgres);
    }
    if (row === undefined) await client.query('INSERT INTO schema_version (version) VALUES ($1)', [SCHEMA_VERSION]);
    else if (current < SCHEMA_VERSION) await client.query('UPDATE schema_version SET version = $1', [SCHEMA_VERSION]);
  });
}

/**
 * Runs `work` between BEGIN and COMMIT on one pooled client (ROLLBACK when it throws). A checked-out
 * client has no error listener of the pool's: its connection dropping mid-transaction (a restart,
 * a failover) would be an unhandled 'error' that ends the process, so one is added here and the
 * broken client is destroyed rather than handed back.
 */
async function inTransaction<R>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<R>): Promise<R> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.off('error', onError);
    client.release(broken ?? false);
  }
}

/** Connects to the PostgreSQL database at `url` (`postgres://user:password@host:port/name`) and brings its schema up to date. */
export async function openPostgres(url: string): Promise<SqlDatabase> {
  const types = new pg.TypeOverrides();
  types.setTypeParser(INT8_OID, (value: string) => Number(value));
  const pool = new pg.Pool({ connectionString: url, types });
  // An idle client losing its server (a restart) must not crash the process; the next query reconnects.
  pool.on('error', () => undefined);
  try {
    await migrate(pool);
  } catch (error) {
    await pool.end();
    throw error;
  }
  return new PostgresDatabase(pool, new Map());
}
