/**
 * `npm run eval`: how the configured providers would answer test questions, with nothing sent.
 *
 *   npm run eval                                   the dev set in eval/ (manuals fetched from Debian)
 *   npm run eval -- --dev [--slice N] [--manual NAME]…  part of it
 *   npm run eval -- --mailbox ADDR questions.jsonl [--classify emails.jsonl]   a mailbox already ingested
 *   npm run eval -- --classify emails.jsonl        the classifier alone
 *
 * Common flags: --json FILE (the report), --progress (a line `progress N/M` on stderr after each
 * question, read by the api role that runs an evaluation for the dashboard), and limits
 * (--min-recall-at-3 0.9 …, see THRESHOLD_FLAGS).
 * Exit code 0, 1 when a limit is not met or a question failed with an error, 2 on bad usage.
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../lib/log.js';
import { DatasetError, labelledEmailSchema, questionSchema, readJsonl, type LabelledEmail, type Question } from '../features/eval-dataset.js';
import { openHarness, RECALL_DEPTH, type Harness } from './harness.js';
import { fetchDevManual, readDevManuals } from './manuals.js';
import { checkThresholds, classifierFigures, questionFigures, questionReport, THRESHOLD_FLAGS, type Ratio, type Threshold } from './metrics.js';
import { printClassifier, printQuestions, printThresholds } from './report.js';

/** The dev set's mailbox: every dev manual is ingested into this one namespace. */
const DEV_MAILBOX = 'support@ragmail-eval.example';
/** The classifier alone needs an address to write to, not a store. */
const CLASSIFY_MAILBOX = 'support@classify-eval.example';

class UsageError extends Error {}

const USAGE = `usage:
  npm run eval [-- --dev [--slice N] [--manual NAME]...]           the dev set in eval/
  npm run eval -- --mailbox ADDR questions.jsonl [--classify emails.jsonl]
  npm run eval -- --classify emails.jsonl
options: --json FILE, --progress, ${Object.keys(THRESHOLD_FLAGS).map((flag) => `--${flag} X`).join(', ')}`;

interface Options {
  mode: 'dev' | 'mailbox' | 'classify';
  mailbox: string;
  questions?: string;
  emails?: string;
  slice?: number;
  manuals: string[];
  json?: string;
  progress: boolean;
  thresholds: Threshold[];
}

function parseOptions(argv: string[], root: string): Options {
  const thresholdOptions = Object.fromEntries(Object.keys(THRESHOLD_FLAGS).map((flag) => [flag, { type: 'string' as const }]));
  let parsed;
  try {
    parsed = parseArgs({
      args: argv, allowPositionals: true, strict: true,
      options: { dev: { type: 'boolean' }, mailbox: { type: 'string' }, classify: { type: 'string' }, json: { type: 'string' }, progress: { type: 'boolean' }, slice: { type: 'string' }, manual: { type: 'string', multiple: true }, ...thresholdOptions },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  const flags = values as Record<string, string | boolean | string[] | undefined>;
  if (positionals.length > 1) throw new UsageError(`one questions file, not ${positionals.length}`);
  const thresholds = Object.entries(THRESHOLD_FLAGS).flatMap(([flag, { figure, kind }]): Threshold[] => {
    const text = flags[flag] as string | undefined;
    if (text === undefined) return [];
    const limit = Number(text);
    const valid = kind === 'min' ? limit >= 0 && limit <= 1 : Number.isInteger(limit) && limit >= 0;
    if (text.trim() === '' || !valid) throw new UsageError(`--${flag} ${text}: expected ${kind === 'min' ? 'a share between 0 and 1' : 'a count (0 or more)'}`);
    return [{ flag, figure, kind, limit }];
  });
  const questions = positionals[0];
  const emails = values.classify;
  const dev = values.dev === true || (!questions && !emails);
  if (dev && (questions || values.mailbox)) throw new UsageError('--dev runs the dev set in eval/: give no questions file and no --mailbox');
  if (!dev && (values.slice !== undefined || values.manual)) throw new UsageError('--slice and --manual choose part of the dev set (--dev)');
  if (questions && !values.mailbox) throw new UsageError('a questions file needs --mailbox ADDR: the mailbox whose ingested manuals answer it');
  let slice: number | undefined;
  if (values.slice !== undefined) {
    slice = Number(values.slice);
    if (!Number.isInteger(slice) || slice < 1) throw new UsageError(`--slice ${values.slice}: expected a whole number of questions per manual (1 or more)`);
  }
  return {
    mode: dev ? 'dev' : questions ? 'mailbox' : 'classify',
    mailbox: dev ? DEV_MAILBOX : values.mailbox ?? CLASSIFY_MAILBOX,
    questions: dev ? path.join(root, 'eval', 'questions.jsonl') : questions,
    emails: dev ? emails ?? path.join(root, 'eval', 'emails.jsonl') : emails,
    slice, manuals: values.manual ?? [], json: values.json, progress: values.progress === true, thresholds,
  };
}

/** The dev set's part to run: the questions of the chosen manuals (all by default), N per manual and N unanswerable. */
function selectDev(questions: Question[], emails: LabelledEmail[] | undefined, options: Options) {
  const chosen = questions.filter((q) => !q.answerable || !options.manuals.length || options.manuals.includes(q.manual!));
  if (!options.slice) return { questions: chosen, emails };
  const taken = new Map<string, number>();
  const slice = chosen.filter((q) => {
    const group = q.answerable ? q.manual! : '';
    taken.set(group, (taken.get(group) ?? 0) + 1);
    return taken.get(group)! <= options.slice!;
  });
  const perLabel = (label: LabelledEmail['label']) => (emails ?? []).filter((e) => e.label === label).slice(0, options.slice);
  return { questions: slice, emails: emails && [...perLabel('support'), ...perLabel('not_support')] };
}

async function ingestDevManuals(harness: Harness, questions: Question[], root: string, print: (line: string) => void) {
  const all = await readDevManuals(path.join(root, 'eval', 'manuals.json'));
  const needed = new Set(questions.flatMap((q) => q.manual ? [q.manual] : []));
  const unknown = [...needed].filter((name) => !all.some((m) => m.name === name));
  if (unknown.length) throw new DatasetError(`eval/manuals.json does not list ${unknown.join(', ')}`);
  for (const manual of all.filter((m) => needed.has(m.name))) {
    const started = Date.now();
    await harness.ingest(await fetchDevManual(manual, path.join(root, 'data', 'eval-cache')), manual.name);
    print(`ingested ${manual.name} (${manual.package}) in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, root: string, print: (line: string) => void = console.log): Promise<number> {
  let options: Options;
  let questions: Question[] | undefined;
  let emails: LabelledEmail[] | undefined;
  try {
    options = parseOptions(argv, root);
    questions = options.questions ? await readJsonl(options.questions, questionSchema) : undefined;
    emails = options.emails ? await readJsonl(options.emails, labelledEmailSchema) : undefined;
    if (options.mode === 'dev') ({ questions, emails } = selectDev(questions!, emails, options));
    if (options.mode === 'dev' && options.manuals.length && !questions!.some((q) => q.answerable)) throw new UsageError(`no dev-set question is about ${options.manuals.join(', ')}`);
  } catch (error) {
    if (!(error instanceof UsageError || error instanceof DatasetError)) throw error;
    console.error(`npm run eval: ${error.message}\n${USAGE}`);
    return 2;
  }

  const logger = createLogger({ level: 'error', format: 'json', role: 'eval' });
  const harness = await openHarness({ agentEmail: options.mailbox, env, freshStore: options.mode === 'dev', logger });
  const report: Record<string, unknown> = { generated_at: new Date().toISOString(), mode: options.mode, mailbox: options.mailbox, questions_file: options.questions ?? null, emails_file: options.emails ?? null };
  const figures: Record<string, Ratio> = {};
  let errors = 0;
  try {
    const { config } = harness;
    report.config = { LLM_PROVIDERS: config.LLM_PROVIDERS, VECTOR_STORE: config.VECTOR_STORE, EMBEDDING_PROVIDER: config.EMBEDDING_PROVIDER, RETRIEVAL_K: config.RETRIEVAL_K, RELEVANCE_THRESHOLD: config.RELEVANCE_THRESHOLD, AUTO_SEND_MIN_CONFIDENCE: config.AUTO_SEND_MIN_CONFIDENCE, AUTO_SEND_MIN_SCORE: config.AUTO_SEND_MIN_SCORE };
    print(`ragmail eval (${options.mode}): mailbox ${options.mailbox}; model ${config.LLM_PROVIDERS}, store ${config.VECTOR_STORE}, k=${config.RETRIEVAL_K}, relevance threshold ${config.RELEVANCE_THRESHOLD}, auto-send at least: classification ${config.AUTO_SEND_MIN_CONFIDENCE}, score ${config.AUTO_SEND_MIN_SCORE}, margin ${config.AUTO_SEND_MIN_MARGIN}, coverage ${config.AUTO_SEND_MIN_COVERAGE}, model confidence ${config.AUTO_SEND_MIN_MODEL_CONFIDENCE}; send policy forced to auto, nothing is sent`);
    if (options.mode === 'dev') await ingestDevManuals(harness, questions!, root, print);

    if (questions) {
      const reports = [];
      for (const q of questions) {
        const retrieved = (await harness.retrieve(q, RECALL_DEPTH)).map((chunk) => ({ manual: chunk.document_name, page: chunk.page, score: chunk.score }));
        reports.push(questionReport(q, retrieved, await harness.run(q)));
        if (options.progress) process.stderr.write(`progress ${reports.length}/${questions.length}\n`);
      }
      const qFigures = questionFigures(reports);
      Object.assign(figures, { recall_at_1: qFigures.recall_at_1, recall_at_3: qFigures.recall_at_3, recall_at_5: qFigures.recall_at_5, auto_sent: qFigures.auto_sent, auto_precision: qFigures.auto_precision, unanswerable_sent: qFigures.unanswerable_sent });
      printQuestions(reports, qFigures, print);
      errors = qFigures.decisions.error;
      if (reports.every((r) => r.retrieved.length === 0)) print(`\nwarning: the store returned no passage for ${options.mailbox}: are its manuals ingested (npm run ingest)?`);
      report.questions = qFigures;
      report.per_question = reports;
    }
    if (emails) {
      const results = [];
      for (const e of emails) results.push({ id: e.id, label: e.label, subject: e.subject, ...(await harness.classify(e)) });
      const cFigures = classifierFigures(results);
      Object.assign(figures, { classifier_accuracy: cFigures.accuracy, classifier_precision: cFigures.precision, classifier_recall: cFigures.recall });
      printClassifier(cFigures, print);
      report.classifier = cFigures;
      report.per_email = results;
    }
  } finally {
    await harness.close();
  }

  const limits = checkThresholds(options.thresholds, figures);
  printThresholds(limits, print);
  if (errors) print(`\n${errors} question(s) failed with an error (decision "error" above): the figures do not measure them`);
  report.thresholds = limits;
  report.passed = errors === 0 && limits.every((l) => l.passed);
  if (options.json) {
    await writeFile(options.json, `${JSON.stringify(report, null, 2)}\n`);
    print(`\nreport written to ${options.json}`);
  }
  return report.passed ? 0 : 1;
}
