/**
 * A loopback OAuth2 provider for the IMAP/SMTP mailbox: the token endpoint (`POST /token`, the
 * refresh-token grant of RFC 6749 §6, answered as §5.1 and §5.2 say: JSON with `access_token`,
 * `token_type`, `expires_in`, or `error`), and Google's token-info endpoint
 * (`GET /tokeninfo?access_token=`, `{"email", "expires_in"}` or 400 `invalid_token`), which the
 * private Dovecot's `oauth2` passdb asks who a token belongs to. A token is good until its
 * `expires_in` passes or the test revokes it (the provider's own early expiry).
 */
import { randomBytes } from 'node:crypto';
import { startScriptedServer, type FakeServer, type RecordedRequest, type ScriptedResponse } from './scripted-http-server.js';

export interface FakeOAuth2Options {
  /** Whose tokens these are: the token-info endpoint's `email`. */
  user: string;
  clientId?: string;
  clientSecret?: string;
  /** The one refresh token accepted; default `1//test-refresh-token`. */
  refreshToken?: string;
  /** Lifetime of a new access token, in seconds; default 3599 (Google's). */
  expiresIn?: number;
}

export interface FakeOAuth2Server extends FakeServer {
  tokenUrl: string;
  /** Dovecot's `tokeninfo_url` (the token is appended). */
  tokenInfoUrl: string;
  /** Access tokens issued by the token endpoint, oldest first. */
  issued: string[];
  /** Issues a token without a request, as a person would paste into IMAP_ACCESS_TOKEN. */
  issue(): string;
  /** Ends every token issued so far: the token-info endpoint no longer knows them. */
  revokeAll(): void;
  /** Access tokens the token-info endpoint was asked about, oldest first. */
  presented(): string[];
}

export async function startFakeOAuth2(options: FakeOAuth2Options): Promise<FakeOAuth2Server> {
  const clientId = options.clientId ?? 'test-client.apps.example';
  const clientSecret = options.clientSecret ?? 'test-client-secret';
  const refreshToken = options.refreshToken ?? '1//test-refresh-token';
  const expiresIn = options.expiresIn ?? 3599;
  /** Live tokens and when each stops being valid (ms since the epoch). */
  const live = new Map<string, number>();
  const issued: string[] = [];

  function issue(): string {
    const token = `ya29.${randomBytes(12).toString('hex')}`;
    live.set(token, Date.now() + expiresIn * 1000);
    issued.push(token);
    return token;
  }

  function token(form: Record<string, string>): ScriptedResponse {
    const json = { 'cache-control': 'no-store', pragma: 'no-cache' };
    if (form.grant_type !== 'refresh_token') return { status: 400, headers: json, body: { error: 'unsupported_grant_type' } };
    if (form.client_id !== clientId || form.client_secret !== clientSecret) {
      return { status: 401, headers: json, body: { error: 'invalid_client', error_description: 'The OAuth client was not found.' } };
    }
    if (form.refresh_token !== refreshToken) {
      return { status: 400, headers: json, body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } };
    }
    return { status: 200, headers: json, body: { access_token: issue(), expires_in: expiresIn, token_type: 'Bearer', scope: 'https://mail.google.com/' } };
  }

  function tokenInfo(accessToken: string): ScriptedResponse {
    const until = live.get(accessToken);
    if (until === undefined || until <= Date.now()) return { status: 400, body: { error: 'invalid_token', error_description: 'Invalid Value' } };
    return { status: 200, body: { email: options.user, email_verified: 'true', expires_in: Math.floor((until - Date.now()) / 1000) } };
  }

  const server = await startScriptedServer((request: RecordedRequest) => {
    if (request.method === 'POST' && request.path === '/token') return token((request.body ?? {}) as Record<string, string>);
    if (request.method === 'GET' && request.path === '/tokeninfo') return tokenInfo(request.query.access_token ?? '');
    return { status: 404, body: { error: 'not_found' } };
  });
  return {
    ...server,
    tokenUrl: `${server.url}/token`,
    tokenInfoUrl: `${server.url}/tokeninfo?access_token=`,
    issued,
    issue,
    revokeAll: () => live.clear(),
    presented: () => server.requests.filter((request) => request.path === '/tokeninfo').map((request) => request.query.access_token ?? ''),
  };
}
