/**
 * npm run train:classifier: trains the local model's support classifier on the labelled corpus in
 * eval/classify/ and writes src/providers/llm/classifier-model.json.
 *
 * Train and calibration splits → weights (logistic regression) and their Platt scaling on
 * out-of-fold scores (scripts/classifier-fit.ts); 5-fold cross-validation over both → the
 * P(support) threshold of a support verdict; held-out split → the figures printed at the end, never
 * used to choose anything. `--check` trains nothing and prints
 * the committed model's figures on the same split; `--export-heldout` also writes that split to
 * eval/classify/heldout.jsonl for `npm run eval -- --classify`.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { supportModel, type SupportModel } from '../src/providers/llm/local-classifier.js';
import { loadCorpus } from './classifier-corpus.js';
import { chooseThreshold, crossValidate, fit, logLoss, TARGET_PRECISION, TARGET_REAL_PRECISION, thresholdCurve } from './classifier-fit.js';
import { figures, formatFigures, judge } from './classifier-figures.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MODEL_FILE = path.join(root, 'src', 'providers', 'llm', 'classifier-model.json');
const HELD_OUT_FILE = path.join(root, 'eval', 'classify', 'heldout.jsonl');

/** A language needs this many support and as many other emails in training and calibration for the model to judge it. */
const MIN_LANGUAGE_EXAMPLES = 3;

const corpus = await loadCorpus();
const part = (name: string) => corpus.filter((email) => email.split === name);
console.log(
  `corpus: ${corpus.length} emails (${corpus.filter((email) => email.label === 'support').length} support); ` +
    `train ${part('train').length}, calibration ${part('calibration').length}, held out ${part('heldout').length}`,
);

let model: SupportModel = supportModel;
if (!process.argv.includes('--check')) {
  const known = corpus.filter((email) => email.split !== 'heldout');
  const fitted = fit(known);
  // The support threshold by 5-fold cross-validation over train and calibration, never held out.
  const predictions = crossValidate(known);
  const curve = thresholdCurve(predictions);
  // Real list mail is where the model is weakest: its part of the curve, point for point.
  const realCurve = thresholdCurve(predictions.filter((entry) => entry.email.source === 'spamassassin'));
  const supportThreshold = chooseThreshold(curve, realCurve);
  console.log(
    `cross-validated over train + calibration, P(support) threshold: precision, recall\n${curve
      .map(
        ({ threshold, precision, recall, tp, fp, fn }, position) =>
          `  ${threshold.toFixed(2)}  ${(100 * precision).toFixed(1)}%  ${(100 * recall).toFixed(1)}%  (tp ${tp}, fp ${fp}, fn ${fn})` +
          `  SpamAssassin part ${(100 * realCurve[position].precision).toFixed(1)}%  ${(100 * realCurve[position].recall).toFixed(1)}%`,
      )
      .join('\n')}\n` +
      `  support threshold ${supportThreshold}: the smallest with precision >= ${TARGET_PRECISION}, >= ${TARGET_REAL_PRECISION} on the SpamAssassin part; log loss of P(support) ${logLoss(predictions).toFixed(4)}`,
  );
  const languageCounts = new Map<string, { support: number; other: number }>();
  for (const email of corpus.filter((entry) => entry.split !== 'heldout')) {
    const language = email.input.language ?? 'und';
    const counts = languageCounts.get(language) ?? { support: 0, other: 0 };
    counts[email.label] += 1;
    languageCounts.set(language, counts);
  }
  const languages = [...languageCounts]
    .filter(([language, { support, other }]) => language !== 'und' && support >= MIN_LANGUAGE_EXAMPLES && other >= MIN_LANGUAGE_EXAMPLES)
    .map(([language]) => language)
    .sort();
  model = {
    version: `support-lr-${new Date().toISOString().slice(0, 10)}`,
    languages,
    support_threshold: supportThreshold,
    bias: fitted.bias,
    calibration: fitted.calibration,
    weights: fitted.weights,
  };
  // One weight a line, so that a retrained model's diff shows which features moved.
  const { weights: _weights, ...head } = model;
  const weightLines = Object.entries(model.weights).map(([feature, weight]) => `    ${JSON.stringify(feature)}: ${weight}`);
  writeFileSync(MODEL_FILE, `${JSON.stringify(head, null, 2).slice(0, -2)},\n  "weights": {\n${weightLines.join(',\n')}\n  }\n}\n`);
  console.log(
    `model: ${Object.keys(model.weights).length} weights, languages ${languages.join(' ')} (of ${[...languageCounts].map(([language, { support, other }]) => `${language}:${support}/${other}`).join(' ')}), calibration a=${model.calibration.a} b=${model.calibration.b}; written to ${path.relative(root, MODEL_FILE)}`,
  );
}

if (process.argv.includes('--export-heldout')) {
  // The held-out split as `npm run eval -- --classify` reads it (src/eval/dataset.ts): the text the
  // parser read, a reply's References kept. SpamAssassin contents are CC0 (eval/classify/README.md).
  const lines = part('heldout').map(({ id, label, input }) =>
    JSON.stringify({
      id,
      label: label === 'support' ? 'support' : 'not_support',
      from: input.from,
      subject: input.subject,
      body: input.body,
      ...(input.is_reply ? { headers: { References: `<earlier-${createHash('sha256').update(id).digest('hex').slice(0, 16)}@classify-corpus.example>` } } : {}),
    }),
  );
  writeFileSync(HELD_OUT_FILE, `${lines.join('\n')}\n`);
  console.log(`held-out split written to ${path.relative(root, HELD_OUT_FILE)} (${lines.length} emails)`);
}

const heldOut = part('heldout').map((email) => judge(email, model));
console.log(formatFigures('held-out split', figures(heldOut)));
for (const source of ['spamassassin', 'written'] as const)
  console.log(
    formatFigures(`  held out, ${source} only`, figures(heldOut.filter((entry) => entry.email.source === source)))
      .split('\n')
      .slice(0, 5)
      .join('\n'),
  );
console.log(`  (the poller would skip ${heldOut.filter((entry) => entry.email.automated).length} of them as automated mail before the classifier)`);
for (const entry of heldOut.filter((item) => item.isSupport !== (item.email.label === 'support'))) {
  console.log(`  wrong: ${entry.email.id} (${entry.email.label}, ${entry.route}) ${entry.email.input.subject.slice(0, 60)} | ${entry.reasoning.slice(0, 220)}`);
}
