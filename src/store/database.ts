/**
 * Opens the database every store shares (src/store/sql.ts): a SQLite file by default, or the
 * PostgreSQL database a `postgres://` URL names, whose stores every host then shares.
 */
import type { SqlDatabase } from './sql.js';

export type { SqlClient, SqlDatabase } from './sql.js';
export { SCHEMA_VERSION } from './migrations.js';

/** True for a PostgreSQL connection URL (`postgres://` or `postgresql://`). */
export function isPostgresUrl(location: string): boolean {
  return /^postgres(?:ql)?:\/\//i.test(location);
}

/**
 * Opens the database at `location` — a file path, `:memory:` (a private SQLite database, for tests)
 * or a `postgres://` URL — and brings its schema up to date.
 */
export async function openDatabase(location: string): Promise<SqlDatabase> {
  // An engine and its driver load with the first database of their kind: the configuration imports
  // this module, and a SQLite worker need not carry pg (nor `--help` either driver).
  if (isPostgresUrl(location)) return (await import('./postgres-engine.js')).openPostgres(location);
  return (await import('./sqlite-engine.js')).openSqlite(location);
}
