/**
 * Moves the stores of a SQLite file into a PostgreSQL database (`ragmail db-copy`): what a
 * deployment growing past one host does once. Both are opened at the current schema, so the tables
 * and columns match; every table of the source is copied, in one transaction on each side: the
 * source's holds its writers off, so the copy is one moment of it, and the target's makes the copy
 * all or nothing, so a failed one can simply be run again.
 */
import type { SqlClient, SqlDatabase } from './sql.js';

/** Rows per INSERT: a few hundred rows make one round trip and stay far below PostgreSQL's 65,535 parameters. */
const BATCH_ROWS = 500;

/** How many rows one table had in the source and has in the target after the copy. */
export interface CopiedTable {
  table: string;
  source: number;
  target: number;
}

/** The target already holds rows: copying into it would merge two histories. */
export class TargetNotEmptyError extends Error {
  constructor(readonly tables: readonly string[]) {
    super(`the target already holds data (${tables.join(', ')}): refusing to merge; --replace empties it first`);
    this.name = 'TargetNotEmptyError';
  }
}

export interface CopyOptions {
  /** Empty the target's tables first instead of refusing a target that holds data. */
  replace?: boolean;
}

type Row = Record<string, unknown>;

const quoted = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** The source's tables, as the stores' migrations made them (SQLite's own bookkeeping left out). */
async function tablesOf(source: SqlClient): Promise<string[]> {
  const rows = await source.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
  return rows.map((row) => row.name);
}

async function countRows(client: SqlClient, table: string): Promise<number> {
  return Number((await client.get<{ count: number }>(`SELECT COUNT(*) AS count FROM ${quoted(table)}`))?.count ?? 0);
}

/** A table's identity columns on PostgreSQL (events.sequence): given explicitly, then their sequence moved past them. */
async function identityColumns(target: SqlClient, table: string): Promise<string[]> {
  const rows = await target.all<{ column_name: string }>(
    "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ? AND is_identity = 'YES'",
    [table],
  );
  return rows.map((row) => row.column_name);
}

/** Copies one table in batches, read in rowid order (keyset, so each batch costs the same). */
async function copyTable(source: SqlClient, target: SqlClient, table: string): Promise<void> {
  const identities = await identityColumns(target, table);
  // GENERATED ALWAYS refuses a given value unless told; the copied sequence numbers must stay as they were.
  const overriding = identities.length > 0 ? ' OVERRIDING SYSTEM VALUE' : '';
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    const rows = await source.all<Row & { copy_rowid: number }>(`SELECT rowid AS copy_rowid, * FROM ${quoted(table)} WHERE rowid > ? ORDER BY rowid LIMIT ?`, [
      after,
      BATCH_ROWS,
    ]);
    if (rows.length === 0) break;
    after = rows[rows.length - 1]!.copy_rowid;
    const columns = Object.keys(rows[0]!).filter((column) => column !== 'copy_rowid');
    const placeholders = `(${columns.map(() => '?').join(', ')})`;
    await target.run(
      `INSERT INTO ${quoted(table)} (${columns.map(quoted).join(', ')})${overriding} VALUES ${rows.map(() => placeholders).join(', ')}`,
      rows.flatMap((row) => columns.map((column) => row[column])),
    );
  }
  for (const column of identities) {
    // The next value generated (a new event's sequence) must come after every copied one; an empty table starts at 1.
    await target.get(
      `SELECT setval(pg_get_serial_sequence(?, ?), COALESCE((SELECT MAX(${quoted(column)}) FROM ${quoted(table)}), 1), (SELECT COUNT(*) > 0 FROM ${quoted(table)}))`,
      [table, column],
    );
  }
}

/**
 * Copies every table of the SQLite `source` into the PostgreSQL `target` and checks each table's
 * row count on both sides; throws (the target unchanged) on a mismatch, and with
 * {@link TargetNotEmptyError} when the target holds rows and `replace` is not set.
 */
export async function copyDatabase(source: SqlDatabase, target: SqlDatabase, options: CopyOptions = {}): Promise<CopiedTable[]> {
  if (source.engine !== 'sqlite' || target.engine !== 'postgres') throw new Error('copies a SQLite file into a PostgreSQL database only');
  return source.transaction((from) =>
    target.transaction(async (to) => {
      const tables = await tablesOf(from);
      const filled = [];
      for (const table of tables) if ((await countRows(to, table)) > 0) filled.push(table);
      if (filled.length > 0 && options.replace !== true) throw new TargetNotEmptyError(filled);
      if (filled.length > 0) await to.run(`TRUNCATE ${tables.map(quoted).join(', ')} RESTART IDENTITY`);
      const copied: CopiedTable[] = [];
      for (const table of tables) {
        await copyTable(from, to, table);
        copied.push({ table, source: await countRows(from, table), target: await countRows(to, table) });
      }
      const different = copied.filter((entry) => entry.source !== entry.target);
      if (different.length > 0) {
        throw new Error(`row counts differ, nothing was copied: ${different.map((entry) => `${entry.table} ${entry.source} → ${entry.target}`).join(', ')}`);
      }
      return copied;
    }),
  );
}
