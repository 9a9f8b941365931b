/**
 * The API's bearer tokens: the configured ones (API_TOKENS), or else one generated for `admin` and
 * kept in `<DATA_DIR>/api-token` (mode 0600), so a fresh install is never open and a restart keeps
 * the operator's bookmark working.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

/** One API token and the name it acts under (API_TOKENS). */
export interface ApiToken {
  /** Who uses the token: recorded as `decided_by` on review decisions. */
  name: string;
  token: string;
}

/** Where the tokens come from: API_TOKENS as a list (empty: generate one), and DATA_DIR for the generated one. */
export interface TokenSettings {
  DATA_DIR: string;
  apiTokens: ApiToken[];
}

/** The name the generated token acts under. */
const GENERATED_TOKEN_NAME = 'admin';

/** The tokens one API server accepts. */
export interface TokenSet {
  tokens: ApiToken[];
  /** Where the generated token is kept; undefined when API_TOKENS is set. */
  file?: string;
  /** True when the token file was created by this start. */
  generated: boolean;
}

/** The file of the generated token. */
export function tokenFileOf(config: Pick<TokenSettings, 'DATA_DIR'>): string {
  return path.join(config.DATA_DIR, 'api-token');
}

/** API_TOKENS, or the generated token (created on first use). */
export async function loadTokens(config: TokenSettings): Promise<TokenSet> {
  if (config.apiTokens.length > 0) return { tokens: config.apiTokens, generated: false };
  const file = tokenFileOf(config);
  const existing = await readToken(file);
  if (existing) return { tokens: [{ name: GENERATED_TOKEN_NAME, token: existing }], file, generated: false };
  await mkdir(path.dirname(file), { recursive: true });
  const token = randomBytes(32).toString('base64url');
  try {
    // `wx`: of two api processes starting at once on one DATA_DIR, the second reads the first's token.
    await writeFile(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    const written = await readToken(file);
    if (!written) throw new Error(`${file} exists but holds no token; delete it to have a new one generated`);
    return { tokens: [{ name: GENERATED_TOKEN_NAME, token: written }], file, generated: false };
  }
  return { tokens: [{ name: GENERATED_TOKEN_NAME, token }], file, generated: true };
}

async function readToken(file: string): Promise<string | undefined> {
  try {
    return (await readFile(file, 'utf8')).trim() || undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/**
 * The name of the token `presented`, or undefined. Digests make every comparison the same length
 * for timingSafeEqual, and every configured token is compared, so timing says nothing about which
 * one nearly matched.
 */
export function nameOfToken(tokens: readonly ApiToken[], presented: string): string | undefined {
  const wanted = digest(presented);
  let found: string | undefined;
  for (const { name, token } of tokens) {
    if (timingSafeEqual(digest(token), wanted) && found === undefined) found = name;
  }
  return found;
}
