/**
 * How every benchmark prints its result: one JSON line (for scripts and BENCHMARKS.md), then a
 * readable table with the same figures and the notes that define them.
 */

/** A readable table: a title, column headers, rows of cells, and notes printed under it. */
export interface Table {
  title: string;
  columns: string[];
  rows: Array<Array<string | number>>;
  notes?: string[];
}

/** Pads every column to its widest cell; numbers are right-aligned. */
export function formatTable(table: Table): string {
  const cells = [table.columns, ...table.rows.map((row) => row.map(String))];
  const widths = table.columns.map((_column, index) => Math.max(...cells.map((row) => (row[index] ?? '').length)));
  const numeric = table.columns.map((_column, index) => table.rows.length > 0 && table.rows.every((row) => typeof row[index] === 'number'));
  const line = (row: string[]) =>
    row
      .map((cell, index) => (numeric[index] ? cell.padStart(widths[index]) : cell.padEnd(widths[index])))
      .join('  ')
      .trimEnd();
  return [
    table.title,
    line(cells[0]),
    widths.map((width) => '-'.repeat(width)).join('  '),
    ...cells.slice(1).map(line),
    ...(table.notes ?? []).map((note) => `  ${note}`),
  ].join('\n');
}

/** Prints the JSON line first (one line, so `| head -1 | jq` works), then the tables. */
export function printReport(result: Record<string, unknown>, tables: Table[]): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
  for (const table of tables) process.stdout.write(`\n${formatTable(table)}\n`);
}

/** A progress line on stderr, so stdout stays the JSON line and the tables. */
export function progress(message: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}
