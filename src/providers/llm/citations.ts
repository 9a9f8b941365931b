/**
 * How a reply cites the manuals. A remote model writes `[n]` after a statement taken from passage
 * n (numbers are short and hard to misspell); the customer reads `("<document title>", page N)`
 * and, below the reply, a list of the sources with a link to the page when the mailbox publishes
 * its manuals. The reply check (reply-check.ts) reads both forms.
 */
import type { ContextItem } from '../../pipeline/messages.js';

/** `"<document title>", page N`; the file name stands in for a document without a title. */
export function citationLabel(passage: Pick<ContextItem, 'title' | 'source' | 'page'>): string {
  return `"${passage.title || passage.source}", page ${passage.page}`;
}

/** `[2]`, `[1, 3]` or `[1][3]`: a group of passage numbers as a model writes them. */
export const MARKER_GROUP = /\[(\d{1,3}(?:\s*[,;]\s*\d{1,3})*)\]/g;

/** The passage numbers of a marker group's inside (`1, 3` → [1, 3]). */
export function markerNumbers(inside: string): number[] {
  return inside.split(/[,;]/).map((number) => Number(number.trim()));
}

/**
 * The model's text with each `[n]` of a passage it was given replaced by `("<title>", page N)`,
 * with the sources cited (with links) above the sign-off, and the mailbox's signature when the
 * model left it out. A number naming no
 * passage stays `[n]`: the reply check reports it, and a reviewer sees it.
 */
export function renderReply(text: string, passages: ContextItem[], signature?: string): string {
  const cited = new Set<number>();
  const body = text.trim().replace(MARKER_GROUP, (_group, inside: string) => {
    const parts = markerNumbers(inside).map((number) => {
      const passage = passages[number - 1];
      if (!passage) return `[${number}]`;
      cited.add(number);
      return citationLabel(passage);
    });
    return `(${parts.join('; ')})`;
  });
  const sources = [
    ...new Map(
      [...cited]
        .sort((a, b) => a - b)
        .map((number) => {
          const passage = passages[number - 1]!;
          const label = citationLabel(passage);
          return [label, passage.url ? `- ${label}: ${passage.url}` : `- ${label}`] as const;
        }),
    ).values(),
  ];
  const sourceList = sources.length ? ['Sources:', ...sources].join('\n') : '';
  // The sources go above the sign-off when the model signed as asked; else the signature is added.
  const paragraphs = body.split(/\n\s*\n/);
  const ownSignature = signature?.trim() ?? '';
  const signedAt = ownSignature ? paragraphs.map((paragraph) => paragraph.includes(ownSignature)).lastIndexOf(true) : -1;
  const parts = signedAt >= 0 ? [...paragraphs.slice(0, signedAt), sourceList, ...paragraphs.slice(signedAt)] : [...paragraphs, sourceList, ownSignature];
  return parts.filter((part) => part.trim().length > 0).join('\n\n');
}

/**
 * The public link to a passage's page from a mailbox's template, e.g.
 * `https://docs.example.com/manuals/{document}#page={page}`; none without a template.
 */
export function pageUrl(template: string | undefined, passage: Pick<ContextItem, 'source' | 'page'>): string | undefined {
  if (!template) return undefined;
  return template.replaceAll('{document}', encodeURIComponent(passage.source)).replaceAll('{page}', String(passage.page));
}
