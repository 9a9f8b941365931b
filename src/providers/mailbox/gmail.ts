/**
 * The hosted mailbox: one Gmail account through `googleapis`, authorised by an OAuth2 refresh
 * token or by a service account with domain-wide delegation (impersonating `user`).
 *
 * New mail is unread inbox mail without the processed label; taking an email adds the label and
 * removes UNREAD. Replies are raw RFC 5322 messages built by `buildReply` and sent in the Gmail
 * thread; `findReply` searches sent mail and drafts by the reply's deterministic Message-ID, which
 * is what keeps a send exactly-once when a sender crashed between sending and acknowledging.
 *
 * Rate limits (429, 403 `rateLimitExceeded` / `userRateLimitExceeded`) and 5xx are retried here a
 * few times with exponential backoff, then surface as retryable RagmailErrors; the googleapis
 * client's own retries are off so the two do not multiply. 401 and other 403s are permanent.
 */
import type { gmail_v1 } from 'googleapis';
import { RagmailError, isRetryableHttpStatus, permanentError, transientError } from '../../lib/errors.js';
import type { Email } from '../../pipeline/messages.js';
import { runProviderCheck, type ProviderCheck } from '../provider-check.js';
import { buildReply, parseEmail, type EmailParseLimits } from './mime.js';
import type { IncomingEmail, Mailbox, OutgoingReply } from './spec.js';

/** An installed-app or web OAuth2 client with a user's refresh token. */
export interface GmailOAuthCredentials {
  clientId: string;
  clientSecret: string;
  refreshToken: string;
}

/** A service account key file whose account may impersonate `user` (domain-wide delegation). */
export interface GmailServiceAccount {
  serviceAccountKeyFile: string;
}

/** Settings of {@link createGmailMailbox}. */
export interface GmailMailboxSettings {
  /** The Gmail address served (GMAIL_USER); it is the `agent_email` of every email read. */
  user: string;
  /** GMAIL_CLIENT_ID / _SECRET / _REFRESH_TOKEN, or GMAIL_SERVICE_ACCOUNT_FILE. */
  auth: GmailOAuthCredentials | GmailServiceAccount;
  /** Label added to taken emails (GMAIL_PROCESSED_LABEL), created on first use. */
  processedLabel: string;
  /** API root (GMAIL_ROOT_URL); default `https://gmail.googleapis.com/`. */
  rootUrl?: string;
  /** OAuth2 token endpoint (GMAIL_TOKEN_URL); default `https://oauth2.googleapis.com/token`. */
  tokenUrl?: string;
  /** Ids per list request. Default 500, Gmail's maximum: a backlog is scanned in few requests. */
  pageSize?: number;
  /** At most this many unread ids are listed per poll to find the oldest. Default 2000. */
  scanLimit?: number;
  /** Retries of a rate-limited or 5xx request before giving up. Default 3. */
  retries?: number;
  /** First backoff delay in ms, doubled on each retry (with jitter). Default 1000. */
  retryBaseDelayMs?: number;
  /** Timeout of each HTTP request in ms. Default 30000. */
  timeoutMs?: number;
  /** Largest message parsed and parse time budget (MAX_EMAIL_BYTES, EMAIL_PARSE_TIMEOUT_MS); default mime.ts's. */
  parseLimits?: EmailParseLimits;
  /** Told about messages that can never be answered and are set aside. */
  logger?: { warn(message: string, fields?: Record<string, unknown>): void };
}

/** Read, label, send and draft; the only deletion is of the mailbox's own drafts (drafts.delete). */
const GMAIL_SCOPES = ['https://www.googleapis.com/auth/gmail.modify'];
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const RATE_LIMIT_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded']);
const MAX_RETRY_DELAY_MS = 32_000;
/** Messages read at once, within Gmail's per-user concurrency limits. */
const READ_CONCURRENCY = 5;

/** What a failed googleapis call tells about itself. */
interface FailureFacts {
  status?: number;
  reasons: string[];
  oauthError?: string;
  retryAfterMs?: number;
}

function factsOf(error: unknown): FailureFacts {
  if (!error || typeof error !== 'object') return { reasons: [] };
  const response = (error as { response?: { status?: number; data?: unknown; headers?: unknown } }).response;
  const status = response?.status ?? (error as { status?: unknown }).status;
  const data = (response?.data ?? {}) as { error?: unknown };
  const reasons: string[] = [];
  let oauthError: string | undefined;
  if (typeof data.error === 'string') {
    oauthError = data.error; // the token endpoint answers `{ error: 'invalid_grant', error_description }`
  } else if (data.error && typeof data.error === 'object') {
    for (const detail of (data.error as { errors?: Array<{ reason?: unknown }> }).errors ?? []) {
      if (typeof detail.reason === 'string') reasons.push(detail.reason);
    }
  }
  // gaxios hands back a Headers-like object that is not always this realm's `Headers`.
  const headers = response?.headers as { get?: (name: string) => string | null } | Record<string, unknown> | undefined;
  const retryAfter = typeof headers?.get === 'function' ? headers.get('retry-after') : (headers as Record<string, unknown> | undefined)?.['retry-after'];
  const seconds = typeof retryAfter === 'string' && retryAfter ? Number(retryAfter) : NaN;
  return {
    status: typeof status === 'number' ? status : undefined,
    reasons,
    oauthError,
    retryAfterMs: Number.isFinite(seconds) ? seconds * 1000 : undefined,
  };
}

function isRateLimit(facts: FailureFacts): boolean {
  return facts.status === 429 || (facts.status === 403 && facts.reasons.some((reason) => RATE_LIMIT_REASONS.has(reason)));
}

/** A googleapis failure as a RagmailError that says whether a retry may succeed. */
export function gmailError(action: string, error: unknown): RagmailError {
  if (error instanceof RagmailError) return error;
  const facts = factsOf(error);
  const text = error instanceof Error ? error.message : String(error);
  const message = `gmail ${action} failed${facts.status ? ` (HTTP ${facts.status})` : ''}: ${facts.oauthError ?? text}`;
  if (isRateLimit(facts)) return transientError('mailbox_rate_limited', message, error);
  // An OAuth error from the token endpoint (`invalid_grant`, `invalid_client`) will not heal by retrying.
  const refused = facts.oauthError !== undefined && (facts.status ?? 400) < 500;
  if (refused || facts.status === 401) return permanentError('mailbox_auth', message, error);
  if (facts.status === 403) return permanentError('mailbox_forbidden', message, error);
  if (facts.status === undefined) return transientError('mailbox_unavailable', message, error);
  return isRetryableHttpStatus(facts.status) ? transientError('mailbox_unavailable', message, error) : permanentError('mailbox_rejected', message, error);
}

type Google = (typeof import('googleapis'))['google'];

/** The authorised client for the settings; the token endpoint is moved when `tokenUrl` is set. */
function authorise(google: Google, settings: GmailMailboxSettings) {
  if ('serviceAccountKeyFile' in settings.auth) {
    const keyFile = settings.auth.serviceAccountKeyFile;
    const client = new google.auth.JWT({ keyFile, scopes: GMAIL_SCOPES, subject: settings.user });
    const tokenUrl = settings.tokenUrl;
    if (tokenUrl) {
      // The service-account grant (gtoken) has the Google endpoint built in; its requests go
      // through this client's transporter, so the URL is moved there.
      client.transporter.interceptors.request.add({
        resolved: async (options) => {
          if (String(options.url) === GOOGLE_TOKEN_URL) options.url = new URL(tokenUrl);
          return options;
        },
      });
    }
    return client;
  }
  const client = new google.auth.OAuth2({
    clientId: settings.auth.clientId,
    clientSecret: settings.auth.clientSecret,
    endpoints: settings.tokenUrl ? { oauth2TokenUrl: settings.tokenUrl } : undefined,
  });
  client.setCredentials({ refresh_token: settings.auth.refreshToken });
  return client;
}

/**
 * The Gmail client. googleapis is loaded on first use: it takes most of a second to load, which
 * processes that never touch Gmail should not pay.
 */
async function gmailClient(settings: GmailMailboxSettings): Promise<gmail_v1.Gmail> {
  const { google } = await import('googleapis');
  return google.gmail({
    version: 'v1',
    auth: authorise(google, settings),
    rootUrl: settings.rootUrl || undefined,
    retry: false,
    timeout: settings.timeoutMs ?? 30_000,
  });
}

/** How Gmail search names a label: lower case, spaces and slashes as hyphens. */
function searchableLabel(name: string): string {
  return name
    .trim()
    .toLowerCase()
    .replace(/[\s/]+/g, '-');
}

function bareMessageId(messageId: string): string {
  return messageId.trim().replace(/^<+/, '').replace(/>+$/, '');
}

/** Creates the Gmail mailbox; see the module comment. */
export function createGmailMailbox(settings: GmailMailboxSettings): Mailbox {
  let clientPromise: Promise<gmail_v1.Gmail> | undefined;
  const userId = settings.user;
  const agentEmail = settings.user.trim().toLowerCase();
  const retries = settings.retries ?? 3;
  const baseDelayMs = settings.retryBaseDelayMs ?? 1000;
  let labelPromise: Promise<string> | undefined;

  async function call<T>(action: string, request: (gmail: gmail_v1.Gmail) => Promise<{ data: T }>): Promise<T> {
    clientPromise ??= gmailClient(settings);
    const gmail = await clientPromise;
    for (let attempt = 0; ; attempt += 1) {
      try {
        return (await request(gmail)).data;
      } catch (error) {
        const facts = factsOf(error);
        const worthWaiting = isRateLimit(facts) || (facts.status !== undefined && facts.status >= 500);
        if (!worthWaiting || attempt >= retries) throw gmailError(action, error);
        const backoff = baseDelayMs * 2 ** attempt * (0.75 + Math.random() / 2);
        await new Promise((resolve) => setTimeout(resolve, Math.min(MAX_RETRY_DELAY_MS, facts.retryAfterMs ?? backoff)));
      }
    }
  }

  async function listIds(query: string, cap: number, includeSpamTrash = false): Promise<gmail_v1.Schema$Message[]> {
    const found: gmail_v1.Schema$Message[] = [];
    let pageToken: string | undefined;
    do {
      const page = await call('list messages', (gmail) =>
        gmail.users.messages.list({
          userId,
          q: query,
          includeSpamTrash,
          pageToken,
          maxResults: Math.min(settings.pageSize ?? 500, cap - found.length),
        }),
      );
      found.push(...(page.messages ?? []));
      pageToken = page.nextPageToken ?? undefined;
    } while (pageToken && found.length < cap);
    return found;
  }

  async function processedLabelId(): Promise<string> {
    const wanted = settings.processedLabel.trim().toLowerCase();
    const existing = async () =>
      (await call('list labels', (gmail) => gmail.users.labels.list({ userId }))).labels?.find((label) => label.name?.toLowerCase() === wanted)?.id;
    labelPromise ??= (async () => {
      const found = await existing();
      if (found) return found;
      try {
        const created = await call('create label', (gmail) =>
          gmail.users.labels.create({
            userId,
            requestBody: { name: settings.processedLabel, labelListVisibility: 'labelShow', messageListVisibility: 'show' },
          }),
        );
        if (created.id) return created.id;
      } catch (error) {
        // 409: another poller created it meanwhile; it is listed now.
        if (!(error instanceof RagmailError && factsOf(error.cause).status === 409)) throw error;
      }
      const after = await existing();
      if (!after) throw transientError('mailbox_unavailable', `gmail label ${settings.processedLabel} could not be created`);
      return after;
    })();
    labelPromise.catch(() => (labelPromise = undefined));
    return labelPromise;
  }

  async function modify(id: string, addLabelIds: string[], removeLabelIds: string[]): Promise<void> {
    try {
      const requestBody = { addLabelIds, removeLabelIds };
      await call('modify message', (gmail) => gmail.users.messages.modify({ userId, id, requestBody }));
    } catch (error) {
      // A message deleted meanwhile is not fetched again either: taking it twice is the same as once.
      if (!(error instanceof RagmailError && factsOf(error.cause).status === 404)) throw error;
    }
  }

  async function readOne(id: string): Promise<{ incoming: IncomingEmail; receivedMs: number } | null> {
    let message: gmail_v1.Schema$Message;
    try {
      message = await call('get message', (gmail) => gmail.users.messages.get({ userId, id, format: 'raw' }));
    } catch (error) {
      if (error instanceof RagmailError && factsOf(error.cause).status === 404) return null;
      throw error;
    }
    try {
      const incoming = await parseEmail(Buffer.from(message.raw ?? '', 'base64url'), { agentEmail, mailboxRef: id, limits: settings.parseLimits });
      // The Gmail thread is what `send` needs to reply in the same conversation.
      incoming.email.thread_id = message.threadId ?? incoming.email.thread_id;
      return { incoming, receivedMs: Number(message.internalDate ?? 0) };
    } catch (error) {
      if (!(error instanceof RagmailError) || error.retryable) throw error;
      // Mail that can never be answered is set aside, left unread for a person to see.
      settings.logger?.warn('gmail message set aside', { mailbox_ref: id, reason: error.message });
      await modify(id, [await processedLabelId()], []);
      return null;
    }
  }

  async function fetchNew(limit: number): Promise<IncomingEmail[]> {
    if (limit < 1) return [];
    const query = `is:unread in:inbox -label:${searchableLabel(settings.processedLabel)}`;
    // Gmail lists newest first: scan the backlog so the oldest mail is served first.
    const oldest = (await listIds(query, Math.max(limit, settings.scanLimit ?? 2000))).reverse().slice(0, limit);
    const read: Array<{ incoming: IncomingEmail; receivedMs: number }> = [];
    for (let start = 0; start < oldest.length; start += READ_CONCURRENCY) {
      const batch = oldest.slice(start, start + READ_CONCURRENCY).flatMap((message) => (message.id ? [message.id] : []));
      for (const result of await Promise.all(batch.map(readOne))) if (result) read.push(result);
    }
    return read.sort((left, right) => left.receivedMs - right.receivedMs).map((entry) => entry.incoming);
  }

  async function findReply(_agentEmail: string, messageId: string): Promise<'sent' | 'draft' | null> {
    const search = `rfc822msgid:${bareMessageId(messageId)}`;
    // Trash too: a sent reply that a person deleted was still sent.
    if ((await listIds(`${search} in:sent`, 1, true)).length > 0) return 'sent';
    if ((await listIds(`${search} in:drafts`, 1, true)).length > 0) return 'draft';
    return null;
  }

  async function deleteDraft(_agentEmail: string, messageId: string): Promise<boolean> {
    // drafts.list takes the search box's query; a crashed, retried saveDraft may have left more than one.
    const q = `rfc822msgid:${bareMessageId(messageId)}`;
    const { drafts } = await call('list drafts', (gmail) => gmail.users.drafts.list({ userId, q, maxResults: 100 }));
    let deleted = false;
    for (const draft of drafts ?? []) {
      if (!draft.id) continue;
      const id = draft.id;
      try {
        await call('delete draft', (gmail) => gmail.users.drafts.delete({ userId, id }));
        deleted = true;
      } catch (error) {
        // Deleted meanwhile (by a person, or a redelivered attempt): the same as deleting it now.
        if (!(error instanceof RagmailError && factsOf(error.cause).status === 404)) throw error;
      }
    }
    return deleted;
  }

  /** The reply as Gmail takes it: base64url raw message, in the email's Gmail thread. */
  async function gmailMessage(reply: OutgoingReply, draft: boolean): Promise<gmail_v1.Schema$Message> {
    const raw = (await buildReply(reply, { draft })).toString('base64url');
    return { raw, threadId: reply.email.thread_id ?? undefined };
  }

  return {
    provider: 'gmail',
    addresses: async () => [agentEmail],
    fetchNew,
    markTaken: async (email: Email) => modify(email.mailbox_ref, [await processedLabelId()], ['UNREAD']),
    findReply,
    async send(reply: OutgoingReply): Promise<{ id: string }> {
      const requestBody = await gmailMessage(reply, false);
      const sent = await call('send', (gmail) => gmail.users.messages.send({ userId, requestBody }));
      return { id: sent.id ?? '' };
    },
    async saveDraft(reply: OutgoingReply): Promise<{ id: string }> {
      const message = await gmailMessage(reply, true);
      const draft = await call('create draft', (gmail) => gmail.users.drafts.create({ userId, requestBody: { message } }));
      return { id: draft.id ?? '' };
    },
    deleteDraft,
  };
}

/** Checks the credentials and the mailbox by reading its profile. Never throws. */
export async function checkGmail(settings: GmailMailboxSettings): Promise<ProviderCheck> {
  if (!settings.user) return { ok: false, latencyMs: 0, detail: 'GMAIL_USER is not set' };
  return runProviderCheck(
    async () => {
      const { data } = await (await gmailClient(settings)).users.getProfile({ userId: settings.user });
      return `${data.emailAddress}: ${data.messagesTotal ?? 0} messages`;
    },
    (error) => {
      const mapped = gmailError('profile', error);
      const hint = mapped.code === 'mailbox_auth' ? 'credentials rejected, check GMAIL_CLIENT_ID/SECRET/REFRESH_TOKEN or GMAIL_SERVICE_ACCOUNT_FILE: ' : '';
      return `${mapped.code}: ${hint}${mapped.message}`;
    },
  );
}
