/**
 * RabbitMQ's durations (`7D`, `12h`, `14D`): how the retention settings are written, read by the
 * configuration's checks and by the dead-letter retention policy.
 */

/** Milliseconds per unit of a RabbitMQ duration; a month is 30 days, a year 365. */
const DURATION_UNIT_MS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, D: 86_400_000, M: 2_592_000_000, Y: 31_536_000_000 };

/** A duration such as `14D` in milliseconds. */
export const durationMs = (value: string): number => Number(value.slice(0, -1)) * DURATION_UNIT_MS[value.slice(-1)]!;
