/**
 * Chinese, Japanese and Korean text as the full-text index can search it. These scripts write
 * words without spaces, so FTS5's unicode61 tokenizer would take a whole run of them up to the
 * next punctuation as one token, which no query ever repeats. Each run is written instead as its
 * overlapping character bigrams (the CJK bigram indexing of Lucene's CJKAnalyzer), applied alike
 * to what is indexed and to queries: a query's bigrams then match wherever its words occur.
 */

/** A run of characters of a script written without spaces (with the kana length mark and 々). */
const cjkRun = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}ー々]+/gu;

/** The text with every CJK run replaced by its space-separated bigrams (a single character stays). */
export function cjkBigrams(text: string): string {
  return text.replace(cjkRun, (run) => {
    const characters = [...run];
    const bigrams = characters.length < 2 ? characters : characters.slice(1).map((character, index) => characters[index] + character);
    return ` ${bigrams.join(' ')} `;
  });
}
