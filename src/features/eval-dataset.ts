/**
 * The evaluation's input files (JSON Lines, one object a line; format in eval/README.md), checked
 * with zod so that a mistake in a hand-written line is reported with its file and line number.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

const emailFields = {
  id: z.string().min(1),
  from: z.string().min(1),
  subject: z.string(),
  body: z.string().min(1),
  /** Extra headers (e.g. List-Unsubscribe), so automated mail can be told apart as the poller does. */
  headers: z.record(z.string(), z.string()).optional(),
};

/**
 * A page added to a question's answer pages by pooled judging (eval/README.md, "Pooled judging"):
 * the page's own `evidence` phrase lets scripts/check-eval-pages.ts check it against that page
 * alone, so a judged page cannot ride on another page's evidence.
 */
export const judgedPageSchema = z.object({
  page: z.number().int().positive(),
  /** A phrase of this page's text that answers the question. */
  evidence: z.string().min(1),
  /** A few words on why the page answers it; the full record is eval/judgements.md. */
  note: z.string().min(1),
});

/**
 * A test question. `manual` is the document's file name as ingested (the `document_name` of its
 * chunks): a retrieved page counts only in that document. `evidence` is a phrase of an answer
 * page's text, checked by scripts/check-eval-pages.ts.
 */
export const questionSchema = z
  .object({
    ...emailFields,
    manual: z.string().min(1).optional(),
    answerable: z.boolean().default(true),
    answer_pages: z.array(z.number().int().positive()).default([]),
    evidence: z.string().min(1).optional(),
    /** Answer pages found by pooled judging, each with its own evidence; every one is also in `answer_pages`. */
    judged: z.array(judgedPageSchema).optional(),
    /** Language the customer writes in (ISO 639-1); English when absent. */
    language: z.string().length(2).optional(),
  })
  .refine((q) => q.answerable === q.answer_pages.length > 0, {
    message: 'an answerable question lists its answer_pages; one with "answerable": false lists none',
  })
  .refine((q) => !q.answerable || q.manual !== undefined, { message: 'an answerable question names its manual' })
  .refine((q) => (q.judged ?? []).every((judged) => q.answer_pages.includes(judged.page)), { message: 'every judged page is also one of the answer_pages' })
  .refine((q) => new Set((q.judged ?? []).map((judged) => judged.page)).size === (q.judged ?? []).length, { message: 'a page is judged once' });
export type Question = z.infer<typeof questionSchema>;

export const labelledEmailSchema = z.object({ ...emailFields, label: z.enum(['support', 'not_support']) });
export type LabelledEmail = z.infer<typeof labelledEmailSchema>;

/** A file the user named is wrong: the CLI reports it as bad usage. */
export class DatasetError extends Error {}

export async function readJsonl<T>(file: string, schema: z.ZodType<T>): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw new DatasetError(`cannot read ${file}: ${(error as Error).message}`);
  }
  return parseJsonl(text, schema, file);
}

/**
 * The lines of `text`, each checked with `schema`; `name` (a path, or an uploaded file's name)
 * starts every error, with the line number, so a mistake is found in the file as written.
 */
export function parseJsonl<T>(text: string, schema: z.ZodType<T>, name: string): T[] {
  const items: T[] = [];
  const ids = new Set<string>();
  for (const [index, line] of text.split('\n').entries()) {
    if (!line.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new DatasetError(`${name}:${index + 1}: not JSON: ${(error as Error).message}`);
    }
    const parsed = schema.safeParse(value);
    if (!parsed.success) throw new DatasetError(`${name}:${index + 1}: ${z.prettifyError(parsed.error).replaceAll('\n', '; ')}`);
    const id = (parsed.data as { id: string }).id;
    if (ids.has(id)) throw new DatasetError(`${name}:${index + 1}: id ${id} is used twice`);
    ids.add(id);
    items.push(parsed.data);
  }
  if (items.length === 0) throw new DatasetError(`${name} holds no lines`);
  return items;
}
