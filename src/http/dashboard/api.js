// The JSON API client: the bearer token kept for this browser tab (or browser, when remembered), and one request function that
// turns the API's `{error, code}` answers into errors the sections can show.

const TOKEN_KEY = 'ragmail.token';

/**
 * The token of this tab, or null. sessionStorage by default: it goes away with the tab, never to
 * other sites. localStorage only when the operator asked to be remembered on this browser, so a
 * new tab signs in too.
 */
export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) ?? localStorage.getItem(TOKEN_KEY);
}

/** Keeps `token` for this tab, and with `remember` for every tab of this browser until sign-out. */
export function setToken(token, remember = false) {
  sessionStorage.setItem(TOKEN_KEY, token);
  if (remember) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

/** Forgets the token everywhere this browser kept it. */
export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
  localStorage.removeItem(TOKEN_KEY);
}

/**
 * Takes a `#token=…` fragment (a link such as the demo prints) into sessionStorage and removes
 * it from the address bar and the history, so it is not bookmarked or shown on screen.
 */
export function adoptTokenFromFragment(landing) {
  const match = /^#token=([^&]+)/.exec(location.hash);
  if (!match) return;
  // This tab only: a link is no request to be remembered, nor to forget a remembered token.
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[1]));
  history.replaceState(null, '', `${location.pathname}${location.search}${landing}`);
}

/** An answer other than 2xx: `status` and the API's stable `code` say what happened. */
export class ApiError extends Error {
  constructor(message, status, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Called on every 401, so the page can go back to its sign-in form. */
let onUnauthorized = () => {};
export function whenUnauthorized(callback) {
  onUnauthorized = callback;
}

/**
 * Calls `api/<path>`. `options.json` is sent as a JSON body, `options.form` (FormData) as
 * multipart; `options.query` entries with empty values are left out.
 */
export async function api(path, options = {}) {
  const url = new URL(`api/${path}`, document.baseURI);
  for (const [name, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined && value !== null && value !== '') url.searchParams.set(name, String(value));
  }
  const headers = { accept: 'application/json', authorization: `Bearer ${getToken() ?? ''}` };
  let body;
  if (options.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(options.json);
  } else if (options.form) {
    body = options.form;
  }
  let response;
  try {
    response = await fetch(url, { method: options.method ?? (body ? 'POST' : 'GET'), headers, body, signal: options.signal });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError('The server did not answer. Is the api role running?', 0, 'network_error');
  }
  const answer = await response.json().catch(() => ({}));
  if (response.status === 401) {
    onUnauthorized();
    throw new ApiError(answer.error ?? 'Sign in again: the token was refused.', 401, answer.code ?? 'unauthorized');
  }
  if (!response.ok) throw new ApiError(answer.error ?? `The server answered ${response.status}.`, response.status, answer.code ?? 'http_error');
  return answer;
}
