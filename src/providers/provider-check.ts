/**
 * The result of a start-up check of one provider's credentials and reachability, as printed by
 * `npm run check-providers`.
 */

/** What one provider check found. */
export interface ProviderCheck {
  /** True when the credentials were accepted and the service answered. */
  ok: boolean;
  /** Time the check took, in ms (0 when it could not be attempted). */
  latencyMs: number;
  /** What was checked or why it failed, e.g. `llm_unauthorized: gemini refused the credentials …`. */
  detail: string;
}

/**
 * Runs `probe` and times it; a throw becomes `ok: false` with `describe(error)` as the detail, so
 * a check never throws.
 */
export async function runProviderCheck(probe: () => Promise<string>, describe: (error: unknown) => string): Promise<ProviderCheck> {
  const startedAt = performance.now();
  const latency = () => Math.round(performance.now() - startedAt);
  try {
    const detail = await probe();
    return { ok: true, latencyMs: latency(), detail };
  } catch (error) {
    return { ok: false, latencyMs: latency(), detail: describe(error) };
  }
}
