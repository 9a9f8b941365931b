/**
 * A loopback Gmail: the OAuth2 token endpoint (`POST /token`) and the `gmail/v1` resources the
 * mailbox uses (messages list/get/modify/send, drafts create/list/get/delete, labels, profile) on
 * one node:http server, in Gmail's wire format and error bodies. Mail lives in memory; `deliver`
 * drops a raw RFC 5322 message into the inbox, and `sent()` / `drafts()` show what went out. A test
 * can script the next API responses (`enqueue`) and inspect every request.
 *
 * Search (`q`) understands what the mailbox uses: `is:unread`, `in:inbox|sent|drafts`,
 * `label:<name>`, `rfc822msgid:<id>`, each negatable with `-`; anything else is a 400, so a query
 * the fake does not understand fails a test instead of matching everything.
 */
import { randomBytes } from 'node:crypto';
import { startScriptedServer, type RecordedRequest, type ScriptedResponse } from './scripted-http-server.js';

export type { RecordedRequest, ScriptedResponse };

export interface StoredMessage {
  id: string;
  threadId: string;
  labelIds: Set<string>;
  raw: string;
  internalDate: number;
}

export interface FakeGmail {
  /** Base URL; the Gmail root URL is `${url}/`, the token URL `${url}/token`. */
  url: string;
  requests: RecordedRequest[];
  /** Scripts the next answer of the API; `response.path` defaults to `/gmail/`, so token requests are not taken. */
  enqueue(response: ScriptedResponse): void;
  /** Puts a raw message in the inbox, unread; returns its Gmail id. */
  deliver(raw: string): string;
  message(id: string): StoredMessage | undefined;
  sent(): StoredMessage[];
  drafts(): StoredMessage[];
  /** User labels by name. */
  userLabels(): Map<string, string>;
  close(): Promise<void>;
}

export interface FakeGmailOptions {
  /** The account; default `support@acme.example`. */
  user?: string;
  /** The one refresh token accepted; default `test-refresh-token`. */
  refreshToken?: string;
}

/** Gmail's error body. */
export function gmailErrorBody(code: number, reason: string, message: string, status: string): unknown {
  const domain = /ratelimit/i.test(reason) ? 'usageLimits' : 'global';
  return { error: { code, message, errors: [{ message, domain, reason }], status } };
}

const notFound = { status: 404, body: gmailErrorBody(404, 'notFound', 'Requested entity was not found.', 'NOT_FOUND') };
const badRequest = (message: string) => ({
  status: 400,
  body: gmailErrorBody(400, 'invalidArgument', message, 'INVALID_ARGUMENT'),
});
const systemLabels = ['INBOX', 'SENT', 'DRAFT', 'UNREAD', 'SPAM', 'TRASH', 'STARRED', 'IMPORTANT'];

/** The Message-IDs a raw message names in a header, brackets removed. */
function headerIds(raw: string, name: string): string[] {
  const head = raw.split(/\r?\n\r?\n/)[0].replace(/\r?\n[ \t]+/g, ' ');
  const line = head.split(/\r?\n/).find((candidate) => candidate.toLowerCase().startsWith(`${name.toLowerCase()}:`));
  return line ? [...line.slice(name.length + 1).matchAll(/<([^<>\s]+)>/g)].map((match) => match[1]) : [];
}

const systemSearches: Record<string, string> = {
  'is:unread': 'UNREAD',
  'in:inbox': 'INBOX',
  'in:sent': 'SENT',
  'in:drafts': 'DRAFT',
  'in:draft': 'DRAFT',
};

const searchName = (name: string) =>
  name
    .trim()
    .toLowerCase()
    .replace(/[\s/]+/g, '-');

export async function startFakeGmail(options: FakeGmailOptions = {}): Promise<FakeGmail> {
  const user = (options.user ?? 'support@acme.example').toLowerCase();
  const refreshToken = options.refreshToken ?? 'test-refresh-token';
  const messages = new Map<string, StoredMessage>();
  const drafts = new Map<string, string>();
  const labels = new Map<string, string>(); // name → id
  const accessTokens = new Set<string>();
  let lastDate = 0;

  function store(raw: string, labelIds: string[], threadId?: string): StoredMessage {
    const referenced = [...headerIds(raw, 'In-Reply-To'), ...headerIds(raw, 'References')];
    // Gmail threads a message with the one it answers, as long as it was not told a thread.
    const answered = [...messages.values()].find((stored) => referenced.some((id) => headerIds(stored.raw, 'Message-ID').includes(id)));
    const thread = threadId ?? answered?.threadId;
    const id = randomBytes(8).toString('hex');
    lastDate = Math.max(Date.now(), lastDate + 1);
    const message = { id, threadId: thread ?? id, labelIds: new Set(labelIds), raw, internalDate: lastDate };
    messages.set(id, message);
    return message;
  }

  function matcher(query: string): ((message: StoredMessage) => boolean) | string {
    const tests: Array<(message: StoredMessage) => boolean> = [];
    for (const token of query.split(/\s+/).filter(Boolean)) {
      const negated = token.startsWith('-');
      const [operator, ...rest] = (negated ? token.slice(1) : token).split(':');
      const value = rest.join(':');
      let test: (message: StoredMessage) => boolean;
      const systemLabel = systemSearches[`${operator}:${value}`.toLowerCase()];
      if (systemLabel) {
        test = (message) => message.labelIds.has(systemLabel);
      } else if (operator === 'label') {
        const id = [...labels].find(([name]) => searchName(name) === searchName(value))?.[1] ?? value.toUpperCase();
        test = (message) => message.labelIds.has(id);
      } else if (operator === 'rfc822msgid') {
        test = (message) => headerIds(message.raw, 'Message-ID').includes(value.replace(/^<|>$/g, ''));
      } else {
        return `Invalid search query: ${token}`;
      }
      tests.push(negated ? (message) => !test(message) : test);
    }
    return (message) => tests.every((test) => test(message));
  }

  const resource = (message: StoredMessage) => ({ id: message.id, threadId: message.threadId, labelIds: [...message.labelIds] });

  function api(method: string, parts: string[], request: RecordedRequest): { status: number; body: unknown } {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const route = `${method} ${parts.map((part, index) => (index === 1 && parts[0] !== 'profile' ? ':id' : part)).join('/')}`;
    const target = parts[1] ? messages.get(parts[1]) : undefined;
    switch (route) {
      case 'GET profile': {
        const threadsTotal = new Set([...messages.values()].map((message) => message.threadId)).size;
        return { status: 200, body: { emailAddress: user, messagesTotal: messages.size, threadsTotal, historyId: '1000' } };
      }
      case 'GET messages': {
        const test = matcher(request.query.q ?? '');
        if (typeof test === 'string') return badRequest(test);
        const spamTrash = request.query.includeSpamTrash === 'true';
        const found = [...messages.values()]
          .filter((message) => (spamTrash || !message.labelIds.has('TRASH')) && test(message))
          .sort((left, right) => right.internalDate - left.internalDate);
        const size = Math.min(Number(request.query.maxResults ?? 100), 500);
        const start = Number(request.query.pageToken ?? 0);
        const page = found.slice(start, start + size).map((message) => ({ id: message.id, threadId: message.threadId }));
        const next = start + size < found.length ? { nextPageToken: String(start + size) } : {};
        return { status: 200, body: { ...(page.length ? { messages: page } : {}), ...next, resultSizeEstimate: found.length } };
      }
      case 'GET messages/:id':
        if (!target) return notFound;
        return {
          status: 200,
          body: {
            ...resource(target),
            snippet: '',
            sizeEstimate: target.raw.length,
            historyId: '1001',
            internalDate: String(target.internalDate),
            ...(request.query.format === 'raw' ? { raw: Buffer.from(target.raw).toString('base64url') } : {}),
          },
        };
      case 'POST messages/:id/modify':
        if (!target) return notFound;
        for (const id of [...((body.addLabelIds ?? []) as string[]), ...((body.removeLabelIds ?? []) as string[])]) {
          if (!systemLabels.includes(id) && ![...labels.values()].includes(id)) return badRequest(`Invalid label: ${id}`);
        }
        for (const id of (body.addLabelIds ?? []) as string[]) target.labelIds.add(id);
        for (const id of (body.removeLabelIds ?? []) as string[]) target.labelIds.delete(id);
        return { status: 200, body: resource(target) };
      case 'POST messages/:id/send': // messages/send, routed as messages/-/send
      case 'POST drafts': {
        const message = (route === 'POST drafts' ? body.message : body) as { raw?: string; threadId?: string } | undefined;
        const raw = Buffer.from(message?.raw ?? '', 'base64url').toString('utf8');
        if (!/^to:/im.test(raw.split(/\r?\n\r?\n/)[0])) return badRequest('Invalid To header');
        const threads = new Set([...messages.values()].map((stored) => stored.threadId));
        if (message?.threadId && !threads.has(message.threadId)) return notFound;
        const stored = store(raw, [route === 'POST drafts' ? 'DRAFT' : 'SENT'], message?.threadId);
        if (route !== 'POST drafts') return { status: 200, body: resource(stored) };
        const draftId = `r${randomBytes(8).readBigUInt64BE().toString().slice(0, 19)}`;
        drafts.set(draftId, stored.id);
        return { status: 200, body: { id: draftId, message: resource(stored) } };
      }
      case 'GET drafts': {
        // Like messages.list: newest first, only ids in the message, no `drafts` key when none match.
        const test = matcher(request.query.q ?? '');
        if (typeof test === 'string') return badRequest(test);
        const listed = [...drafts]
          .map(([id, messageId]) => ({ id, message: messages.get(messageId) as StoredMessage }))
          .filter(({ message }) => test(message))
          .sort((left, right) => right.message.internalDate - left.message.internalDate)
          .slice(0, Math.min(Number(request.query.maxResults ?? 100), 500))
          .map(({ id, message }) => ({ id, message: { id: message.id, threadId: message.threadId } }));
        return { status: 200, body: { ...(listed.length ? { drafts: listed } : {}), resultSizeEstimate: listed.length } };
      }
      case 'GET drafts/:id': {
        const message = messages.get(drafts.get(parts[1]) ?? '');
        if (!message) return notFound;
        const raw = request.query.format === 'raw' ? { raw: Buffer.from(message.raw).toString('base64url') } : {};
        return { status: 200, body: { id: parts[1], message: { ...resource(message), internalDate: String(message.internalDate), ...raw } } };
      }
      case 'DELETE drafts/:id': {
        // Gmail deletes a draft for good (not to the trash) and answers 204 without a body.
        const messageId = drafts.get(parts[1]);
        if (messageId === undefined) return notFound;
        drafts.delete(parts[1]);
        messages.delete(messageId);
        return { status: 204, body: undefined };
      }
      case 'GET labels': {
        const system = systemLabels.map((id) => ({ id, name: id, type: 'system' }));
        const own = [...labels].map(([name, id]) => ({ id, name, type: 'user' }));
        return { status: 200, body: { labels: [...system, ...own] } };
      }
      case 'POST labels': {
        const name = String(body.name ?? '');
        if ([...labels.keys(), ...systemLabels].some((existing) => existing.toLowerCase() === name.toLowerCase())) {
          return { status: 409, body: gmailErrorBody(409, 'duplicate', 'Label name exists or conflicts', 'ALREADY_EXISTS') };
        }
        const id = `Label_${labels.size + 1}`;
        labels.set(name, id);
        const { labelListVisibility, messageListVisibility } = body;
        return { status: 200, body: { id, name, type: 'user', labelListVisibility, messageListVisibility } };
      }
      default:
        return notFound;
    }
  }

  /** The OAuth2 token endpoint: a refresh-token grant, or a service account's signed JWT for `user`. */
  function token(form: Record<string, string>): { status: number; body: unknown } {
    const claims = (assertion: string | undefined): { sub?: string } =>
      JSON.parse(Buffer.from(String(assertion).split('.')[1] ?? '', 'base64url').toString() || '{}') as { sub?: string };
    const valid =
      form.grant_type === 'refresh_token'
        ? form.refresh_token === refreshToken
        : form.grant_type === 'urn:ietf:params:oauth:grant-type:jwt-bearer' && claims(form.assertion).sub?.toLowerCase() === user;
    if (!valid) {
      return { status: 400, body: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' } };
    }
    const accessToken = `ya29.${randomBytes(16).toString('hex')}`;
    accessTokens.add(accessToken);
    const scope = 'https://www.googleapis.com/auth/gmail.modify';
    return { status: 200, body: { access_token: accessToken, expires_in: 3599, token_type: 'Bearer', scope } };
  }

  function answer(request: RecordedRequest): { status: number; body: unknown } {
    if (request.method === 'POST' && request.path === '/token') return token(request.body as Record<string, string>);
    const match = /^\/gmail\/v1\/users\/([^/]+)\/(.+)$/.exec(request.path);
    if (!match) return notFound;
    const bearer = /^Bearer (.+)$/.exec(String(request.headers.authorization ?? ''))?.[1];
    if (!bearer || !accessTokens.has(bearer)) {
      const message = 'Request had invalid authentication credentials.';
      return { status: 401, body: gmailErrorBody(401, 'authError', message, 'UNAUTHENTICATED') };
    }
    const userId = decodeURIComponent(match[1]).toLowerCase();
    if (userId !== 'me' && userId !== user) {
      return { status: 403, body: gmailErrorBody(403, 'forbidden', `Delegation denied for ${user}`, 'PERMISSION_DENIED') };
    }
    const parts = match[2].split('/').map(decodeURIComponent);
    // `messages/send` has the shape of `messages/<id>`: route it on its own.
    if (parts[0] === 'messages' && parts[1] === 'send') return api(request.method, ['messages', '-', 'send'], request);
    return api(request.method, parts, request);
  }

  const server = await startScriptedServer(answer, { 'content-type': 'application/json; charset=UTF-8' });

  const labelled = (label: string) => [...messages.values()].filter((message) => message.labelIds.has(label));
  return {
    url: server.url,
    requests: server.requests,
    enqueue: (response) => server.enqueue({ path: '/gmail/', ...response }),
    deliver: (raw) => store(raw, ['INBOX', 'UNREAD']).id,
    message: (id) => messages.get(id),
    sent: () => labelled('SENT'),
    drafts: () => labelled('DRAFT'),
    userLabels: () => new Map(labels),
    close: () => server.close(),
  };
}
