/**
 * npm run train:classifier: trains the local model's support classifier on the labelled corpus in
 * eval/classify/ and writes src/providers/llm/classifier-model.json.
 *
 * Train split → weights (logistic regression); calibration split → Platt scaling; held-out split →
 * the figures printed at the end, never used to choose anything. `--check` trains nothing and prints
 * the committed model's figures on the same split; `--export-heldout` also writes that split to
 * eval/classify/heldout.jsonl for `npm run eval -- --classify`.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { featuresOf, isStructural } from '../src/classify/features.js';
import { fitPlatt, score, train, type Example } from '../src/classify/logistic.js';
import { supportModel, type SupportModel } from '../src/providers/llm/local-classifier.js';
import { loadCorpus } from './classifier-corpus.js';
import { figures, formatFigures, judge } from './classifier-figures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MODEL_FILE = path.join(root, 'src', 'providers', 'llm', 'classifier-model.json');
const HELD_OUT_FILE = path.join(root, 'eval', 'classify', 'heldout.jsonl');

/** A word must occur in this many training emails to get a weight: rarer ones are noise and bulk. */
const MIN_DOCUMENT_FREQUENCY = 3;
/** A language needs this many support and as many other emails in training and calibration for the model to judge it. */
const MIN_LANGUAGE_EXAMPLES = 3;
/** Weights closer to zero than this are dropped from the committed file: they decide nothing. */
const MIN_KEPT_WEIGHT = 0.01;
/** Chosen on the calibration split (SHOW_CALIBRATION=1), never on the held-out one. */
const TRAINING = { iterations: 1000, learningRate: 50, l2: 1e-5 };

const corpus = await loadCorpus();
const part = (name: string) => corpus.filter((email) => email.split === name);
console.log(`corpus: ${corpus.length} emails (${corpus.filter((email) => email.label === 'support').length} support); ` +
  `train ${part('train').length}, calibration ${part('calibration').length}, held out ${part('heldout').length}`);

let model: SupportModel = supportModel;
if (!process.argv.includes('--check')) {
  const featured = corpus.map((email) => ({ email, features: featuresOf(email.input) }));
  const frequency = new Map<string, number>();
  for (const { email, features } of featured) if (email.split === 'train') for (const feature of features) frequency.set(feature, (frequency.get(feature) ?? 0) + 1);
  const known = (feature: string) => isStructural(feature) || (frequency.get(feature) ?? 0) >= MIN_DOCUMENT_FREQUENCY;
  const examples = (name: string): Example[] =>
    featured.filter(({ email }) => email.split === name).map(({ email, features }) => ({ features, label: email.label === 'support' ? 1 : 0 }));
  const trained = train(examples('train'), { ...TRAINING, learns: known });
  const weights = Object.fromEntries(
    Object.entries(trained.weights).filter(([, weight]) => Math.abs(weight) >= MIN_KEPT_WEIGHT).sort(([a], [b]) => a.localeCompare(b)).map(([feature, weight]) => [feature, Math.round(weight * 1e4) / 1e4]),
  );
  const pruned = { bias: Math.round(trained.bias * 1e4) / 1e4, weights };
  const calibrationSet = examples('calibration');
  const calibration = fitPlatt(calibrationSet.map((example) => score(pruned, example.features).score), calibrationSet.map((example) => example.label));
  const languageCounts = new Map<string, { support: number; other: number }>();
  for (const email of corpus.filter((entry) => entry.split !== 'heldout')) {
    const language = email.input.language ?? 'und';
    const counts = languageCounts.get(language) ?? { support: 0, other: 0 };
    counts[email.label] += 1;
    languageCounts.set(language, counts);
  }
  const languages = [...languageCounts]
    .filter(([language, { support, other }]) => language !== 'und' && support >= MIN_LANGUAGE_EXAMPLES && other >= MIN_LANGUAGE_EXAMPLES)
    .map(([language]) => language).sort();
  model = {
    version: `support-lr-${new Date().toISOString().slice(0, 10)}`,
    languages,
    bias: pruned.bias,
    calibration: { a: Math.round(calibration.a * 1e4) / 1e4, b: Math.round(calibration.b * 1e4) / 1e4 },
    weights,
  };
  // One weight a line, so that a retrained model's diff shows which features moved.
  const { weights: _weights, ...head } = model;
  const weightLines = Object.entries(weights).map(([feature, weight]) => `    ${JSON.stringify(feature)}: ${weight}`);
  writeFileSync(MODEL_FILE, `${JSON.stringify(head, null, 2).slice(0, -2)},\n  "weights": {\n${weightLines.join(',\n')}\n  }\n}\n`);
  console.log(`model: ${Object.keys(weights).length} weights, languages ${languages.join(' ')} (of ${[...languageCounts].map(([language, { support, other }]) => `${language}:${support}/${other}`).join(' ')}), calibration a=${model.calibration.a} b=${model.calibration.b}; written to ${path.relative(root, MODEL_FILE)}`);
}

if (process.argv.includes('--export-heldout')) {
  // The held-out split as `npm run eval -- --classify` reads it (src/eval/dataset.ts): the text the
  // parser read, a reply's References kept. SpamAssassin contents are CC0 (eval/classify/README.md).
  const lines = part('heldout').map(({ id, label, input }) => JSON.stringify({
    id, label: label === 'support' ? 'support' : 'not_support', from: input.from, subject: input.subject, body: input.body,
    ...(input.is_reply ? { headers: { References: `<earlier-${createHash('sha256').update(id).digest('hex').slice(0, 16)}@classify-corpus.example>` } } : {}),
  }));
  writeFileSync(HELD_OUT_FILE, `${lines.join('\n')}\n`);
  console.log(`held-out split written to ${path.relative(root, HELD_OUT_FILE)} (${lines.length} emails)`);
}

if (process.env.SHOW_CALIBRATION) {
  console.log(formatFigures('calibration split (for tuning)', figures(part('calibration').map((email) => judge(email, model)))));
  process.exit(0);
}
const heldOut = part('heldout').map((email) => judge(email, model));
console.log(formatFigures('held-out split', figures(heldOut)));
for (const source of ['spamassassin', 'written'] as const) console.log(formatFigures(`  held out, ${source} only`, figures(heldOut.filter((entry) => entry.email.source === source))).split('\n').slice(0, 5).join('\n'));
console.log(`  (the poller would skip ${heldOut.filter((entry) => entry.email.automated).length} of them as automated mail before the classifier)`);
for (const entry of heldOut.filter((item) => item.isSupport !== (item.email.label === 'support'))) {
  console.log(`  wrong: ${entry.email.id} (${entry.email.label}, ${entry.route}) ${entry.email.input.subject.slice(0, 60)} | ${entry.reasoning.slice(0, 220)}`);
}
