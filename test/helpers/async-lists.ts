/** Array checks whose predicate reads a store, which answers asynchronously. */

/** True when `predicate` holds for every item (asked one after another, stopping at the first false). */
export async function everyOf<T>(items: Iterable<T>, predicate: (item: T) => Promise<boolean>): Promise<boolean> {
  for (const item of items) if (!(await predicate(item))) return false;
  return true;
}

/** The items `predicate` holds for, in their order. */
export async function filterOf<T>(items: Iterable<T>, predicate: (item: T) => Promise<boolean>): Promise<T[]> {
  const kept: T[] = [];
  for (const item of items) if (await predicate(item)) kept.push(item);
  return kept;
}
