/**
 * `npm run check-providers`: the checks of src/app/provider-checks.ts, printed as one row per
 * provider.
 */
import type { ProviderCheckRow } from '../app/provider-checks.js';

/** The rows as an aligned text table with a header line. */
export function formatProviderTable(rows: ProviderCheckRow[]): string {
  const header = ['PROVIDER', 'KIND', 'STATUS', 'LATENCY', 'DETAIL'];
  const cells = rows.map((row) => [row.provider, row.kind, row.status, row.latencyMs === null ? '-' : `${row.latencyMs} ms`, row.detail]);
  const widths = header.slice(0, -1).map((title, column) => Math.max(title.length, ...cells.map((line) => line[column].length)));
  const line = (values: string[]) =>
    values
      .map((value, column) => (column < widths.length ? value.padEnd(widths[column]) : value))
      .join('  ')
      .trimEnd();
  return [line(header), ...cells.map(line)].join('\n');
}

/** Prints the table to `output` (standard output by default). */
export function printProviderTable(rows: ProviderCheckRow[], output: { write(text: string): unknown } = process.stdout): void {
  output.write(`${formatProviderTable(rows)}\n`);
}
