/** Time bounds for tests of crafted input (regular-expression bombs): generous for a loaded 2-core CI machine. */
import assert from 'node:assert/strict';

/** What a crafted input that used to take tens of seconds may take now: well over the milliseconds it needs. */
export const CRAFTED_INPUT_LIMIT_MS = 2_000;

/** Runs `work`, fails when it took `limitMs` or longer, and returns its result. */
export async function withinTime<T>(limitMs: number, what: string, work: () => Promise<T> | T): Promise<T> {
  const started = performance.now();
  const result = await work();
  const took = performance.now() - started;
  assert.ok(took < limitMs, `${what} took ${Math.round(took)} ms (limit ${limitMs} ms)`);
  return result;
}
