/** A vector scaled to length 1 (a zero vector stays as it is), so dot-product and cosine scores agree. */
export function unitLength(values: number[]): number[] {
  const length = Math.hypot(...values);
  return length > 0 ? values.map((value) => value / length) : values;
}
