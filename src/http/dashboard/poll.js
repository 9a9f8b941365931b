// Polling that stops with its section, skips beats while the tab is hidden, never overlaps itself,
// and lets each beat choose the delay to the next (fast while something is in progress).

/**
 * Runs `task` now (or after `firstDelay` ms), then again after the delay it returns, or after
 * `interval` ms when it returns nothing or fails (it reports its own errors).
 * @returns a function that stops the polling.
 */
export function poll(task, interval, firstDelay = 0) {
  let stopped = false;
  let timer;
  const beat = async () => {
    let next = interval;
    if (!document.hidden) {
      try {
        next = (await task()) ?? interval;
      } catch {
        next = interval;
      }
    }
    if (!stopped) timer = setTimeout(beat, next);
  };
  timer = setTimeout(beat, firstDelay);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
