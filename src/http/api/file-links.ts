/**
 * Short-lived signed links to a stored manual, so a citation can open the PDF in a new browser tab.
 * A tab opened from a link sends no `Authorization` header, and a bearer token in a URL would end
 * up in the history, the proxy's access log and any screenshot: the API hands an operator with a
 * token a link signed for one document that expires, and the file route checks the signature instead.
 *
 * The key is derived from the API tokens, so every api replica with the same tokens accepts the
 * others' links, and removing a token from API_TOKENS voids the links signed under the old set.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

/** Where the file route listens (outside `/api`: it takes a signature, not a bearer token). */
export const MANUAL_FILE_PREFIX = '/manual-files';

/** How long a link stays usable at least; default 10 minutes. */
export const LINK_TTL_MS = 10 * 60_000;
/** Expiries are rounded up to this step, so a page that polls gets the same link for a while (no re-render). */
const EXPIRY_STEP_MS = 5 * 60_000;

/** Signs and checks links to stored manuals. */
export interface FileLinkSigner {
  /** The path of a link to `documentId` (query included, no fragment) valid for at least {@link LINK_TTL_MS}. */
  link(documentId: string, now?: number): string;
  /** Why the link's `expires` and `signature` do not open `documentId`, or null when they do. */
  problem(documentId: string, expires: string | undefined, signature: string | undefined, now?: number): 'link_invalid' | 'link_expired' | null;
}

/** `tokens`: the API's named tokens (API_TOKENS, or the generated one). */
export function createFileLinkSigner(tokens: ReadonlyArray<{ name: string; token: string }>, ttlMs = LINK_TTL_MS): FileLinkSigner {
  const secrets = tokens.map(({ name, token }) => `${name}=${token}`).sort();
  const key = createHmac('sha256', 'ragmail manual links v1').update(secrets.join('\n')).digest();
  const sign = (documentId: string, expires: number) => createHmac('sha256', key).update(`${documentId}\n${expires}`).digest('base64url');
  const digest = (value: string) => createHash('sha256').update(value).digest();

  return {
    link(documentId, now = Date.now()) {
      const expires = Math.ceil((now + ttlMs) / EXPIRY_STEP_MS) * EXPIRY_STEP_MS;
      return `${MANUAL_FILE_PREFIX}/${encodeURIComponent(documentId)}?expires=${expires}&signature=${sign(documentId, expires)}`;
    },
    problem(documentId, expires, signature, now = Date.now()) {
      const expiresAt = Number(expires);
      if (!expires || !signature || !/^\d+$/.test(expires)) return 'link_invalid';
      // Compared as digests: same length for timingSafeEqual whatever was presented.
      if (!timingSafeEqual(digest(sign(documentId, expiresAt)), digest(signature))) return 'link_invalid';
      return expiresAt < now ? 'link_expired' : null;
    },
  };
}
