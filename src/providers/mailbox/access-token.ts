/**
 * The OAuth2 access token of the IMAP/SMTP mailbox (SASL XOAUTH2), shared by both servers: a fixed
 * one (IMAP_ACCESS_TOKEN), or one obtained with a refresh token from the provider's token endpoint
 * (RFC 6749 §6: a `grant_type=refresh_token` form POST, as Google's and Microsoft's endpoints take
 * it) and kept until shortly before it expires.
 *
 * nodemailer's own OAuth2 (`XOAuth2`) refreshes too, but for SMTP alone, one cache per transport,
 * until the very second of expiry, and it hands back a token endpoint's 503 as it does an
 * `invalid_grant`; here one token serves both servers, and a failure says whether it passes.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { isRetryableHttpStatus, permanentError, transientError, type RagmailError } from '../../lib/errors.js';

/** Where a login's access token comes from. */
export interface AccessTokens {
  /**
   * A token to log in with: the one held while it is valid, else a new one. `refused`: the server
   * turned this token down, so it is not offered again (a fixed token then fails for good).
   */
  token(refused?: string): Promise<string>;
}

/** An OAuth2 client allowed to refresh the mailbox user's token. */
export interface OAuth2Refresh {
  /** Token endpoint (IMAP_OAUTH2_TOKEN_URL), e.g. `https://oauth2.googleapis.com/token`. */
  tokenUrl: string;
  clientId: string;
  /** Empty for a public client (Microsoft allows those). */
  clientSecret?: string;
  refreshToken: string;
  /** Scopes asked for (IMAP_OAUTH2_SCOPE); empty: those the refresh token was granted. */
  scope?: string;
  /** How long the token endpoint may take, in ms. Default 30000. */
  timeoutMs?: number;
  /**
   * Where a refresh token the endpoint rotated is kept across restarts (see
   * {@link rotatedRefreshTokenFile}); without one it is kept in memory only, and a restart goes
   * back to `refreshToken`, which a provider that rotates may have expired by then.
   */
  rotated?: RotatedRefreshTokens;
}

/** A refresh token the endpoint handed back in place of the configured one. */
export interface RotatedRefreshTokens {
  /** The newest rotated token for `configured`, if one was kept. */
  load(configured: string): Promise<string | undefined>;
  save(configured: string, rotated: string): Promise<void>;
}

/**
 * Rotated refresh tokens in a JSON file (mode 0600, written whole then renamed into place): the
 * newest one, with a digest of the configured token it replaced. A different configured token (a
 * new grant an operator set) makes the kept one void, so the configuration always wins over it.
 */
export function rotatedRefreshTokenFile(file: string): RotatedRefreshTokens {
  const digest = (token: string) => createHash('sha256').update(token).digest('hex');
  return {
    async load(configured) {
      const stored = await readFile(file, 'utf8').then(
        (text) => JSON.parse(text) as { configured?: unknown; refresh_token?: unknown },
        () => undefined,
      );
      return stored?.configured === digest(configured) && typeof stored.refresh_token === 'string' && stored.refresh_token ? stored.refresh_token : undefined;
    },
    async save(configured, rotated) {
      await mkdir(path.dirname(file), { recursive: true });
      const temporary = `${file}.${process.pid}.tmp`;
      await writeFile(temporary, JSON.stringify({ configured: digest(configured), refresh_token: rotated }), { mode: 0o600 });
      await rename(temporary, file);
    },
  };
}

/** A token is renewed this long before the endpoint said it expires (or at half its life when that is shorter). */
const RENEW_BEFORE_MS = 60_000;

/** IMAP_ACCESS_TOKEN: offered as it is; once refused, nothing can replace it. */
export function fixedAccessToken(accessToken: string): AccessTokens {
  return {
    token: async (refused) => {
      if (refused === accessToken) {
        throw permanentError('mailbox_auth', 'the OAuth2 access token was refused and IMAP_ACCESS_TOKEN cannot be renewed: set IMAP_OAUTH2_REFRESH_TOKEN');
      }
      return accessToken;
    },
  };
}

/** Tokens from `client`'s refresh token; one request at a time however many logins wait for it. */
export function refreshingAccessToken(client: OAuth2Refresh, now: () => number = Date.now): AccessTokens {
  let refreshToken: string | undefined;
  let held: { token: string; renewAt: number } | undefined;
  let fetching: Promise<string> | undefined;

  async function fetchToken(): Promise<string> {
    refreshToken ??= (await client.rotated?.load(client.refreshToken)) ?? client.refreshToken;
    const tried = new Set<string>();
    for (;;) {
      tried.add(refreshToken);
      try {
        return await requestToken(refreshToken);
      } catch (error) {
        if ((error as RagmailError).retryable) throw error;
        // Refused: another process of this host may have rotated it since (they share the file),
        // and the configured token is the last word.
        const next = [await client.rotated?.load(client.refreshToken), client.refreshToken].find((token) => token !== undefined && !tried.has(token));
        if (next === undefined) throw error;
        refreshToken = next;
      }
    }
  }

  async function requestToken(grant: string): Promise<string> {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: grant, client_id: client.clientId });
    if (client.clientSecret) form.set('client_secret', client.clientSecret);
    if (client.scope) form.set('scope', client.scope);
    const asked = now();
    let response: Response;
    try {
      response = await fetch(client.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: form,
        signal: AbortSignal.timeout(client.timeoutMs ?? 30_000),
      });
    } catch (error) {
      throw transientError('mailbox_unreachable', `oauth2 token endpoint ${client.tokenUrl} unreachable: ${(error as Error).message}`, error);
    }
    const body = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    if (!response.ok) throw refusal(response.status, body);
    const token = body?.access_token;
    if (typeof token !== 'string' || !token) {
      throw transientError('mailbox_unavailable', `oauth2 token endpoint ${client.tokenUrl} answered ${response.status} without an access_token`);
    }
    // RFC 6749 §6: a new refresh token replaces the old one (Microsoft rotates them); kept for the
    // next start too, where a failure to write it costs nothing now.
    if (typeof body?.refresh_token === 'string' && body.refresh_token && body.refresh_token !== grant) {
      refreshToken = body.refresh_token;
      await client.rotated?.save(client.refreshToken, body.refresh_token).catch(() => undefined);
    }
    const lifetimeMs = typeof body?.expires_in === 'number' && body.expires_in > 0 ? body.expires_in * 1000 : undefined;
    // Without expires_in the token is kept until a server refuses it.
    held = { token, renewAt: lifetimeMs === undefined ? Infinity : asked + lifetimeMs - Math.min(RENEW_BEFORE_MS, lifetimeMs / 2) };
    return token;
  }

  function refusal(status: number, body: Record<string, unknown> | undefined): RagmailError {
    // RFC 6749 §5.2: `error` (invalid_grant: the refresh token was revoked or expired) and an optional description.
    const reason = [body?.error, body?.error_description].filter((part) => typeof part === 'string' && part).join(': ');
    const message = `oauth2 token refresh at ${client.tokenUrl} failed (HTTP ${status})${reason ? `: ${reason}` : ''}`;
    // The identity provider out is the mailbox out: nobody can log in until it is back.
    return isRetryableHttpStatus(status) ? transientError('mailbox_unreachable', message) : permanentError('mailbox_auth', message);
  }

  return {
    token: (refused) => {
      if (held && held.token !== refused && now() < held.renewAt) return Promise.resolve(held.token);
      // A login refused with a token already replaced waits for (or takes) the replacement, not another one.
      fetching ??= fetchToken().finally(() => (fetching = undefined));
      return fetching;
    },
  };
}
