/** Watches this process while a test runs: its peak resident memory and the longest stall of its event loop. */

/** What {@link startProcessProbe} saw. */
export interface ProbeReading {
  /** Peak resident memory above the start, in MiB. */
  rssGrowthMb: number;
  /** Longest gap between two ticks: how long the event loop was blocked at most, in ms. */
  maxGapMs: number;
}

/**
 * Starts a 20 ms probe, heartbeat-like: it only ticks while the event loop is free, so a parser that
 * blocks it shows as a long gap. `stop()` ends the probe and returns what it saw.
 */
export function startProcessProbe(): { stop(): ProbeReading } {
  const startRss = process.memoryUsage.rss();
  let maxRss = startRss;
  let lastTick = Date.now();
  let maxGapMs = 0;
  const probe = setInterval(() => {
    const now = Date.now();
    maxGapMs = Math.max(maxGapMs, now - lastTick);
    lastTick = now;
    maxRss = Math.max(maxRss, process.memoryUsage.rss());
  }, 20);
  return {
    stop() {
      clearInterval(probe);
      return { rssGrowthMb: (maxRss - startRss) / 1024 / 1024, maxGapMs };
    },
  };
}
