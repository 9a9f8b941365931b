/**
 * Logistic regression over binary features, with Platt-scaled probabilities. Hand-written (about 60
 * lines) because the job needs sparse named features and a small JSON of weights a worker loads
 * without a numeric library: ml-logistic-regression trains on dense matrices (here about 1,000 emails
 * × 20,000 words), natural's classifiers serialise every document they saw. Same data and options →
 * same weights.
 */
import { isStructural } from './features.js';

/** A trained model as committed in classifier-model.json. */
export interface LogisticModel {
  bias: number;
  /** Weight of each feature; a feature not listed weighs nothing. */
  weights: Record<string, number>;
  /** Platt scaling: P(positive) = sigmoid(a × score + b), fitted on examples the weights never saw. */
  calibration: { a: number; b: number };
}

export interface Example {
  features: string[];
  /** 1 for the positive class (support), 0 otherwise. */
  label: 0 | 1;
}

export interface TrainingOptions {
  /** Passes of full-batch gradient descent. */
  iterations: number;
  learningRate: number;
  /** L2 penalty per weight: keeps rare words from deciding alone. */
  l2: number;
  /** Features that get a weight; the others still count in an email's length (see `featureValue`). */
  learns: (feature: string) => boolean;
}

/**
 * A word counts 1/√n for an email of n features, so a long email does not shout by length; n is at
 * least {@link MIN_NORMALISED_FEATURES}, so an email of a few features is little evidence.
 */
const wordValue = (count: number) => 1 / Math.sqrt(Math.max(count, MIN_NORMALISED_FEATURES));
/** About the features of a one-line question (its words, pairs and structure). */
const MIN_NORMALISED_FEATURES = 20;
/**
 * A structural feature ("[reply]", "[asks for help]") counts the same in every email: a help request
 * with a pasted log has hundreds of words, and at 1/√n its structure weighed next to nothing. Chosen
 * by cross-validation on 2026-12-03 (eval/classify/README.md, "Third pass").
 */
const STRUCTURE_VALUE = 0.1;

/** What each feature of an email counts, in the order given. */
const valuesOf = (features: string[]) => {
  const word = wordValue(features.length);
  return features.map((feature) => (isStructural(feature) ? STRUCTURE_VALUE : word));
};

export const sigmoid = (value: number) => 1 / (1 + Math.exp(-value));

/** The uncalibrated score and each known feature's share of it. */
export function score(model: Pick<LogisticModel, 'bias' | 'weights'>, features: string[]): { score: number; contributions: Array<[string, number]> } {
  const values = valuesOf(features);
  const contributions: Array<[string, number]> = [];
  let total = model.bias;
  features.forEach((feature, position) => {
    const weight = model.weights[feature];
    if (weight === undefined) return;
    contributions.push([feature, weight * values[position]]);
    total += weight * values[position];
  });
  return { score: total, contributions };
}

/** Calibrated probability of the positive class. */
export function probability(model: LogisticModel, rawScore: number): number {
  return sigmoid(model.calibration.a * rawScore + model.calibration.b);
}

/**
 * Weights of a logistic regression over `examples`, by deterministic full-batch gradient descent.
 * Features are numbered once and the passes run over typed arrays: the same sums in the same order
 * as over named features, many times faster (cross-validation fits the model six times).
 */
export function train(examples: Example[], options: TrainingOptions): Pick<LogisticModel, 'bias' | 'weights'> {
  const index = new Map<string, number>();
  const prepared = examples.map(({ features, label }) => {
    const values = valuesOf(features);
    const learned = features.flatMap((feature, position) => (options.learns(feature) ? [position] : []));
    return {
      label,
      values: Float64Array.from(learned, (position) => values[position]),
      learned: Int32Array.from(learned, (position) => {
        let number = index.get(features[position]);
        if (number === undefined) index.set(features[position], (number = index.size));
        return number;
      }),
    };
  });
  const weights = new Float64Array(index.size);
  const gradient = new Float64Array(index.size);
  let bias = 0;
  for (let iteration = 0; iteration < options.iterations; iteration += 1) {
    gradient.fill(0);
    let biasGradient = 0;
    for (const { learned, label, values } of prepared) {
      let total = bias;
      for (let position = 0; position < learned.length; position += 1) total += weights[learned[position]] * values[position];
      const error = sigmoid(total) - label;
      biasGradient += error;
      for (let position = 0; position < learned.length; position += 1) gradient[learned[position]] += error * values[position];
    }
    const step = options.learningRate / examples.length;
    bias -= step * biasGradient;
    for (let feature = 0; feature < weights.length; feature += 1) {
      weights[feature] = weights[feature] - step * gradient[feature] - options.learningRate * options.l2 * weights[feature];
    }
  }
  return { bias, weights: Object.fromEntries([...index].map(([feature, position]) => [feature, weights[position]])) };
}

/** Platt's a and b: the logistic fit of labels on raw scores, by Newton's method. */
export function fitPlatt(scores: number[], labels: Array<0 | 1>): LogisticModel['calibration'] {
  // Platt's smoothed targets keep a perfectly separated calibration set from driving a to infinity.
  const positives = labels.filter((label) => label === 1).length;
  const negatives = labels.length - positives;
  const targets = labels.map((label) => (label === 1 ? (positives + 1) / (positives + 2) : 1 / (negatives + 2)));
  let a = 1;
  let b = 0;
  for (let iteration = 0; iteration < 100; iteration += 1) {
    let [ga, gb, haa, hab, hbb] = [0, 0, 1e-9, 0, 1e-9];
    scores.forEach((value, index) => {
      const p = sigmoid(a * value + b);
      const error = p - targets[index];
      const curvature = p * (1 - p);
      ga += error * value;
      gb += error;
      haa += curvature * value * value;
      hab += curvature * value;
      hbb += curvature;
    });
    const determinant = haa * hbb - hab * hab;
    const da = (hbb * ga - hab * gb) / determinant;
    const db = (haa * gb - hab * ga) / determinant;
    a -= da;
    b -= db;
    if (Math.abs(da) < 1e-9 && Math.abs(db) < 1e-9) break;
  }
  return { a, b };
}
