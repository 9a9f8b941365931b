/**
 * The language of an email, for every model provider: recorded in the classification, shown on the
 * dashboard, and checked against the languages the local model was trained on. Detected with ELD
 * (Nito-ELD, n-gram based), which tells languages apart on texts of a sentence or two.
 */
// The extra-small n-gram database (about 90 MB of memory; small takes 150 MB, medium 200 MB): on
// the 1,157 emails of eval/classify/ it reads 4 languages differently from small, none of them of
// the written emails. It is weaker on a subject alone (10 of 200 wrong, small 4), but the role
// detects on the subject and the text together.
// Loaded on first use, not when this module is: a role that never detects a language (the poller,
// the sender, the recorder, the api) does not carry those 90 MB.
type Detector = (typeof import('eld/extrasmall'))['eld'];
let detector: Promise<Detector> | undefined;

function loadDetector(): Promise<Detector> {
  detector ??= import('eld/extrasmall').then(({ eld }) => {
    // URLs, addresses and domains say nothing about the language of the words around them.
    eld.enableTextCleanup(true);
    return eld;
  });
  return detector;
}

/** ISO 639-1 has no code for "could not be told"; ISO 639-2's `und` (undetermined) is the convention. */
export const UNDETERMINED_LANGUAGE = 'und';

/** The first characters are enough to tell a language, and bound the work on a long body. */
const MAX_DETECTED_CHARS = 2_000;

/** ISO 639-1 code of the text's language, or {@link UNDETERMINED_LANGUAGE} when nothing could be told. */
export async function detectLanguage(text: string): Promise<string> {
  return (await loadDetector()).detect(text.slice(0, MAX_DETECTED_CHARS)).language || UNDETERMINED_LANGUAGE;
}
