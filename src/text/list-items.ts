/**
 * The start of a list item on a line of a manual's text: a bullet, or a number with a full stop or
 * a bracket ("• Whereas in S…", "2. Restart the modem", "3) rto <position>"). The chunker starts
 * such a line on a line of its own, as the manual does, where it joins a paragraph's other lines
 * into sentences; the local model reads it as part of the sentence before it, as it did before.
 */
const listItemStart = /^(?:[•◦▪‣●○■□∗*]|\d{1,2}[.)])\s/u;

/** Whether `line` (trimmed) starts a list item. */
export function startsListItem(line: string): boolean {
  return listItemStart.test(line);
}
