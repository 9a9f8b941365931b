/**
 * Configuration, parsed once at boot from the environment (a `.env` file works too). Every option
 * has its default here, once; `.env.example` lists the same variables. Nothing else reads
 * `process.env`.
 */
import { isIP } from 'node:net';
import path from 'node:path';
import { z } from 'zod';
import { durationMs } from '../lib/duration.js';
import type { ApiToken } from '../http/api/tokens.js';
import { isPostgresUrl } from '../store/database.js';
import { readSecretFiles } from './secret-files.js';
import { STACK_PASSWORD_VARIABLES, exampleSecretsIn } from './example-passwords.js';
import { SEND_MODES, type MailboxSettings, type SendMode } from '../features/send-policy.js';

const integer = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max).default(fallback);
const fraction = (fallback: number) => z.coerce.number().min(0).max(1).default(fallback);
const text = (fallback: string) => z.string().default(fallback);

/** RabbitMQ refuses a larger message TTL. */
const MAX_MESSAGE_TTL_MS = 2 ** 32 - 1;

/** The environment variables, their accepted values and defaults. */
export const environmentSchema = z.object({
  /**
   * Broker URL; `amqps://` for TLS. The vhost is the URL's path. For a cluster, the nodes' URLs
   * separated by commas (same scheme and vhost): a worker connects to the first that answers and,
   * when its node goes, to the next.
   */
  AMQP_URL: z
    .string()
    .refine(
      isAmqpUrlList,
      'an amqp:// or amqps:// URL with a host, e.g. amqp://user:password@rabbitmq:5672/ragmail, or several separated by commas (one scheme, one vhost)',
    )
    .default('amqp://guest:guest@127.0.0.1:5672'),
  /** TLS (`amqps://` only): PEM file of the CA(s) that signed the broker's certificate; empty trusts Node's default CAs. */
  AMQP_CA_FILE: text(''),
  /** TLS client certificate (PEM) and its private key, for brokers that require one (`fail_if_no_peer_cert`). */
  AMQP_CERT_FILE: text(''),
  AMQP_KEY_FILE: text(''),
  /** Passphrase of an encrypted AMQP_KEY_FILE. */
  AMQP_KEY_PASSPHRASE: text(''),
  /** Name the broker's certificate must carry when it differs from the URL's host (an IP, a load balancer). */
  AMQP_TLS_SERVERNAME: text(''),
  /**
   * `declare`: assert every exchange, queue and binding at boot (needs configure permission on them).
   * `verify`: only check they exist (no permission needed), for least-privilege role users; the
   * admin declares the topology once with `npm run topology`.
   */
  AMQP_TOPOLOGY: z.enum(['declare', 'verify']).default('declare'),
  /**
   * `classic`: classic queues, `emails.to_classify` with 10 priorities; one broker node.
   * `quorum`: replicated quorum queues with a delivery limit, for a cluster (src/messaging/topology.ts,
   * `asQuorumQueue`). A vhost keeps the type it was declared with: a worker of the other type stops
   * with a TopologyMismatchError.
   */
  QUEUE_TYPE: z.enum(['classic', 'quorum']).default('classic'),
  /** RabbitMQ management API, used by the topology report, the dead-letter tools and the dashboard. */
  RABBITMQ_MANAGEMENT_URL: text('http://guest:guest@127.0.0.1:15672'),
  /** AMQP heartbeat. */
  AMQP_HEARTBEAT_SECONDS: integer(15, 0, 600),
  /** First reconnect delay; doubles with jitter on each failure up to AMQP_RECONNECT_MAX_MS. */
  AMQP_RECONNECT_MIN_MS: integer(500, 10),
  AMQP_RECONNECT_MAX_MS: integer(30_000, 10),
  /** How long boot waits for the broker before giving up. */
  AMQP_CONNECT_TIMEOUT_MS: integer(30_000, 100),
  /** A publish not confirmed by the broker within this time fails. */
  PUBLISH_TIMEOUT_MS: integer(10_000, 10),
  /** Publishes waiting for a connection at most; beyond this a publish fails at once. */
  PUBLISH_BUFFER_LIMIT: integer(1_000, 1),
  /** Attempts per message before it is dead-lettered (first try included). */
  MAX_ATTEMPTS: integer(3, 1, 10),
  /** Delay before the second attempt; each later one doubles it. */
  RETRY_BASE_DELAY_MS: integer(2_000, 10),
  /** In-flight work may finish within this time on SIGTERM; the rest goes back to the queue. */
  SHUTDOWN_GRACE_MS: integer(15_000, 0),
  /**
   * Deliveries of one message that may end without an outcome (its worker died, froze or lost the
   * broker while handling it) before it is dead-lettered as `delivery_limit_exceeded`.
   */
  MAX_DELIVERIES: integer(5, 1, 100),
  /**
   * When every language model (or the embedder) fails for reasons that pass — 429, 5xx, timeouts —
   * the role pauses and messages wait in their queue, attempts uncounted, for at most this long;
   * after it, failures count again and end in the dead-letter queue. 0: no pause, every failure counts.
   */
  OUTAGE_LIMIT_MS: integer(1_800_000, 0),
  /** Longest pause between two probes during such an outage (a provider's retry-after, or a doubling backoff). */
  OUTAGE_MAX_PAUSE_MS: integer(60_000, 10),
  /**
   * How long a record stays in `dead_letter_queue` (Y, M, D, h, m, s; at most 49D, RabbitMQ's
   * largest message TTL). Applied by `npm run topology` as an operator policy.
   */
  DEAD_LETTER_MAX_AGE: z
    .string()
    .regex(/^\d+[YMDhms]$/, 'a number and a unit of Y, M, D, h, m or s, e.g. 14D')
    .refine((value) => !(durationMs(value) > MAX_MESSAGE_TTL_MS), "at most 49D (RabbitMQ's largest message TTL is 2^32-1 ms)")
    .default('14D'),
  /** Messages handled at once per role (LLM-bound roles many, the ingester one). */
  CONCURRENCY_CLASSIFIER: integer(32, 1, 1000),
  CONCURRENCY_RESPONDER: integer(32, 1, 1000),
  CONCURRENCY_SENDER: integer(8, 1, 1000),
  CONCURRENCY_INGESTER: integer(1, 1, 1000),
  /** Unacknowledged messages the broker may push per role; 0 means equal to its concurrency. */
  PREFETCH_CLASSIFIER: integer(0, 0, 65535),
  PREFETCH_RESPONDER: integer(0, 0, 65535),
  PREFETCH_SENDER: integer(0, 0, 65535),
  PREFETCH_INGESTER: integer(0, 0, 65535),
  /** `events.audit` stream retention (RabbitMQ duration: 7D, 12h, ...). */
  EVENTS_MAX_AGE: z
    .string()
    .regex(/^\d+[YMDhms]$/, 'a number and a unit of Y, M, D, h, m or s, e.g. 7D')
    .default('7D'),
  /** Where a recorder with no stored offset starts reading `events.audit`: its `first` event, or only `next` ones. */
  AUDIT_STREAM_START: z.enum(['first', 'next']).default('first'),
  /** How often a standby recorder (another projects the audit stream, DATABASE_URL) tries to take over. */
  RECORDER_TAKEOVER_INTERVAL_MS: integer(5_000, 50),
  /** Port of the `/metrics`, `/healthz` and `/readyz` server; 0 picks a free port (the worker logs the one chosen). */
  METRICS_PORT: integer(9464, 0, 65535),
  /**
   * Address that server listens on. Loopback by default: plain HTTP stays off the network unless a
   * deployment asks (the compose and Kubernetes files set 0.0.0.0 for their scrapers and probes).
   */
  METRICS_HOST: text('127.0.0.1'),
  /**
   * Address of the operator API and dashboard (`api` role). Loopback by default: it speaks plain
   * HTTP, so reach it from elsewhere through a TLS proxy (the compose and Kubernetes files set 0.0.0.0).
   */
  API_HOST: text('127.0.0.1'),
  /** Port of the operator API and dashboard; 0 picks a free port (the role logs the one chosen). */
  API_PORT: integer(8080, 0, 65535),
  /**
   * Who may use the API: `name=token` pairs separated by commas; the name is recorded on review
   * decisions. Each token at least {@link MIN_API_TOKEN_LENGTH} characters and no example
   * placeholder (`change-me…`). Empty: one token for `admin` is generated into
   * `<DATA_DIR>/api-token` (mode 0600) and reused.
   */
  API_TOKENS: text(''),
  /** Wrong tokens one client address may present per minute; beyond, its wrong tokens get 429 until the minute is over. */
  API_MAX_FAILED_SIGN_INS: integer(10, 1, 10_000),
  /**
   * Which proxies' `X-Forwarded-For` names the client (fastify's `trustProxy`), so the sign-in
   * throttle counts per real client and not per proxy: `false` (none: the connection's address
   * counts), the proxies' addresses or CIDRs separated by commas (or `loopback`, `linklocal`,
   * `uniquelocal`), or `true` (every hop: only when nothing but the proxy can reach the API, since
   * a client then picks its own address). No hop count: fastify 5 ignores one (it cannot tell who
   * wrote the header).
   */
  API_TRUST_PROXY: z.string().transform(parseTrustProxy).default(false),
  /** Largest PDF the upload API accepts, in bytes (50 MiB). */
  API_MAX_UPLOAD_BYTES: integer(52_428_800, 1),
  /** Upload requests received at once; more get 503 with Retry-After (each streams to disk, so this bounds disk and CPU, not memory). */
  API_MAX_CONCURRENT_UPLOADS: integer(2, 1, 100),
  /**
   * `true` lets a process run on the example passwords of this repository's stack (`change-me-…`,
   * the broker admin `ragmail` / `ragmail`): a demo on one machine. Otherwise a process given one
   * (AMQP_URL, RABBITMQ_MANAGEMENT_URL, a key, GRAFANA_ADMIN_PASSWORD of the compose stack) stops at boot.
   */
  RAGMAIL_DEMO: z
    .enum(['true', 'false'], { error: 'true or false' })
    .default('false')
    .transform((value) => value === 'true'),
  /** `debug | info | warn | error` */
  LOG_LEVEL: z.enum(['debug', 'info', 'warn', 'error']).default('info'),
  /** `auto` is JSON lines off a terminal and readable lines on one. */
  LOG_FORMAT: z.enum(['auto', 'json', 'pretty']).default('auto'),
  /** Where the embedded defaults keep their files. */
  DATA_DIR: text('./data'),
  /** Maildir root: one Maildir per mailbox address below it. Default `<DATA_DIR>/maildir`. */
  MAILDIR_ROOT: text(''),
  /** SQLite activity log, documents, review queue and send ledger. Default `<DATA_DIR>/ragmail.db`. */
  DATABASE_PATH: text(''),
  /**
   * PostgreSQL for those stores instead (`postgres://user:password@host:5432/name`), shared by every
   * host: the send claims and daily quota then hold across hosts. Empty = the SQLite file of DATABASE_PATH.
   */
  DATABASE_URL: text('').refine((value) => value === '' || isPostgresUrl(value), 'must be a postgres:// or postgresql:// URL'),
  /**
   * The password of a DATABASE_URL that has none, kept apart so it can come from a secret file
   * (`DATABASE_PASSWORD_FILE`, as the compose override does). Refused when the URL has one too.
   */
  DATABASE_PASSWORD: text(''),
  /** SQLite vector store. Default `<DATA_DIR>/vectors.db`. */
  VECTOR_DB_PATH: text(''),
  /** Uploaded documents, read by the ingester. Default `<DATA_DIR>/uploads`. */
  UPLOAD_DIR: text(''),
  /** How often the poller looks for new mail, and how many emails it takes per look. */
  POLL_INTERVAL_MS: integer(2_000, 50),
  POLL_BATCH_SIZE: integer(50, 1, 1000),
  /** Largest raw email read, in bytes (25 MiB); a larger one is set aside unread (Maildir: `rejected/`). */
  MAX_EMAIL_BYTES: integer(26_214_400, 1_024),
  /** Time budget for parsing one email (in a worker thread); a slower one is set aside as `email_unparseable`. */
  EMAIL_PARSE_TIMEOUT_MS: integer(10_000, 100),
  /** Language models in fallback order, comma separated; `local` needs no key. */
  LLM_PROVIDERS: z
    .string()
    .regex(/^\s*(local|gemini|anthropic|openai)(\s*,\s*(local|gemini|anthropic|openai))*\s*$/, 'a comma-separated list of local, gemini, anthropic, openai')
    .default('local'),
  /** Gemini (`@google/genai`): key, models, and an optional endpoint (a proxy, or a test server). */
  GEMINI_API_KEY: text(''),
  GEMINI_MODEL: text('gemini-2.5-flash'),
  GEMINI_EMBEDDING_MODEL: text('gemini-embedding-001'),
  GEMINI_BASE_URL: text(''),
  /** Claude (`@anthropic-ai/sdk`). */
  ANTHROPIC_API_KEY: text(''),
  ANTHROPIC_MODEL: text('claude-sonnet-4-6'),
  ANTHROPIC_BASE_URL: text(''),
  /**
   * Any OpenAI-compatible server (`openai` SDK): OpenAI itself with a key, or a local one (Ollama,
   * llama.cpp, vLLM, LM Studio) by its base URL, e.g. `http://127.0.0.1:11434/v1`, key optional.
   */
  OPENAI_API_KEY: text(''),
  OPENAI_BASE_URL: text(''),
  OPENAI_MODEL: text('gpt-4.1-mini'),
  OPENAI_EMBEDDING_MODEL: text('text-embedding-3-small'),
  /** How the JSON answer is asked for: `json_schema` (structured output), `json_object` (JSON mode) or `text` (the prompt alone). */
  OPENAI_RESPONSE_FORMAT: z.enum(['json_schema', 'json_object', 'text']).default('json_schema'),
  /** A model call slower than this counts as a timeout: the next provider in the chain is tried. */
  LLM_TIMEOUT_MS: integer(30_000, 100),
  /** Card numbers, IBANs, keys and passwords in an email are replaced before it goes to gemini, anthropic or openai (never needed for local). */
  REDACT_BEFORE_LLM: z
    .enum(['true', 'false'], { error: 'true or false' })
    .default('true')
    .transform((value) => value === 'true'),
  /** `none` (lexical retrieval only), `gemini` or `openai` (an OpenAI-compatible server, see OPENAI_*). */
  EMBEDDING_PROVIDER: z.enum(['none', 'gemini', 'openai']).default('none'),
  EMBEDDING_DIMENSIONS: integer(768, 8, 4096),
  /** `sqlite` (embedded) or `pinecone` (needs an embedding provider). */
  VECTOR_STORE: z.enum(['sqlite', 'pinecone']).default('sqlite'),
  PINECONE_API_KEY: text(''),
  PINECONE_INDEX: text('ragmail'),
  /** The index's data-plane host (from the Pinecone console); skips the lookup of the index. */
  PINECONE_INDEX_HOST: text(''),
  /** Control-plane URL, for a proxy or a test server. */
  PINECONE_CONTROLLER_HOST: text(''),
  /** `maildir` (embedded), `gmail` (the Gmail API) or `imap` (any mail server over IMAP and SMTP). */
  MAILBOX_PROVIDER: z.enum(['maildir', 'gmail', 'imap']).default('maildir'),
  /** The Gmail address served (`agent_email`); with a service account, the user impersonated. */
  GMAIL_USER: text(''),
  /** OAuth2 client with a refresh token ... */
  GMAIL_CLIENT_ID: text(''),
  GMAIL_CLIENT_SECRET: text(''),
  GMAIL_REFRESH_TOKEN: text(''),
  /** ... or a service account key file with domain-wide delegation. */
  GMAIL_SERVICE_ACCOUNT_FILE: text(''),
  /** Label put on an email once it is taken. */
  GMAIL_PROCESSED_LABEL: text('ragmail/processed'),
  /** Gmail API root and OAuth token endpoint, for a proxy or a test server. */
  GMAIL_ROOT_URL: text(''),
  GMAIL_TOKEN_URL: text(''),
  /** MAILBOX_PROVIDER=imap: the address served (`agent_email`, the From of replies); empty = IMAP_USER. */
  IMAP_ADDRESS: text(''),
  IMAP_HOST: text(''),
  IMAP_PORT: integer(993, 1, 65_535),
  /** `tls` (from the first byte, port 993), `starttls` (required upgrade, port 143) or `none` (loopback only). */
  IMAP_TLS: z.enum(['tls', 'starttls', 'none']).default('tls'),
  IMAP_USER: text(''),
  /** Password login, or an OAuth2 access token (XOAUTH2, Gmail and Microsoft 365; used for SMTP too), which wins. */
  IMAP_PASSWORD: text(''),
  IMAP_ACCESS_TOKEN: text(''),
  /**
   * ... or OAuth2 tokens refreshed by ragmail (wins over both): the token endpoint (Google's
   * `https://oauth2.googleapis.com/token`, Microsoft's `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`),
   * the client and the mailbox user's refresh token; the scope is optional (empty: the refresh token's own).
   */
  IMAP_OAUTH2_TOKEN_URL: text(''),
  IMAP_OAUTH2_CLIENT_ID: text(''),
  IMAP_OAUTH2_CLIENT_SECRET: text(''),
  IMAP_OAUTH2_REFRESH_TOKEN: text(''),
  IMAP_OAUTH2_SCOPE: text(''),
  /** Folder new mail is read from. */
  IMAP_MAILBOX: text('INBOX'),
  /** Folder taken mail is moved to (full path, the server's delimiter); empty = only flagged (`\Seen` and `$RagmailTaken`). */
  IMAP_TAKEN_FOLDER: text(''),
  /** Sent and Drafts folders; empty = the folders the server marks `\Sent` and `\Drafts`, else `Sent` and `Drafts`. */
  IMAP_SENT_FOLDER: text(''),
  IMAP_DRAFTS_FOLDER: text(''),
  /** SMTP server replies go out through; empty host = IMAP_HOST. */
  SMTP_HOST: text(''),
  SMTP_PORT: integer(587, 1, 65_535),
  /** `starttls` (port 587), `tls` (port 465) or `none` (loopback only). */
  SMTP_TLS: z.enum(['tls', 'starttls', 'none']).default('starttls'),
  /** Empty = IMAP_USER and IMAP_PASSWORD. */
  SMTP_USER: text(''),
  SMTP_PASSWORD: text(''),
  /** PEM file of the CA(s) that signed the IMAP and SMTP servers' certificates; empty trusts Node's default CAs. */
  MAIL_CA_FILE: text(''),
  /** Redis for the shared cache and cross-host send claims; empty = in-process cache, local claims. */
  REDIS_URL: text(''),
  /** How long cached query embeddings and retrieval results live. */
  CACHE_TTL_SECONDS: integer(3_600, 1),
  /** Passages retrieved per email. */
  RETRIEVAL_K: integer(3, 1, 50),
  /** Below this retrieval score nothing is relevant: the reply becomes a hand-off. */
  RELEVANCE_THRESHOLD: fraction(0.25),
  CHUNK_SIZE: integer(800, 100, 20_000),
  CHUNK_OVERLAP: integer(150, 0, 10_000),
  /** Larger PDFs are refused before their text is read. */
  MAX_PDF_PAGES: integer(2_000, 1),
  /** Most characters on one PDF page; a denser page (a bomb of nested forms) refuses the document. */
  PDF_MAX_PAGE_CHARS: integer(100_000, 1_000),
  /** Most characters in one document (a 300-page manual holds about 1 million). */
  PDF_MAX_DOCUMENT_CHARS: integer(5_000_000, 1_000),
  /** Most chunks one document may give. */
  PDF_MAX_CHUNKS: integer(10_000, 1),
  /** Time budget for reading one PDF (in a child process); past it the document is refused. */
  PDF_PARSE_TIMEOUT_MS: integer(120_000, 100),
  /** Memory budget for reading one PDF: the reading child's heap limit and its growth over its start-up size. */
  PDF_PARSE_MAX_MEMORY_MB: integer(512, 64),
  /**
   * Send policy of every mailbox: auto | draft | review | shadow. Unset: `draft` when the first
   * language model is the local one (on the dev set its automatic replies are not right often
   * enough to go out unread: EVALUATION.md), `auto` for Gemini or Claude.
   */
  SEND_POLICY: z.enum(SEND_MODES).optional(),
  /** Per-mailbox override, e.g. `support@a.example=draft,help@b.example=auto`. */
  MAILBOX_POLICIES: z
    .string()
    .regex(
      /^(\s*[^=,\s]+@[^=,\s]+\s*=\s*(auto|draft|review|shadow)\s*)?(,\s*[^=,\s]+@[^=,\s]+\s*=\s*(auto|draft|review|shadow)\s*)*$/,
      'address=mode pairs separated by commas, mode one of auto, draft, review, shadow',
    )
    .default(''),
  /**
   * Auto mode sends a reply only when every signal passes its threshold (src/rag/decide.ts);
   * otherwise it leaves a draft. Least classification confidence, and least relevance of the best passage.
   */
  AUTO_SEND_MIN_CONFIDENCE: fraction(0.7),
  AUTO_SEND_MIN_SCORE: fraction(0.3),
  /**
   * Least lead of the best-ranked passage's relevance over the next one from another page; it can be
   * negative (results come in rank order, relevance is a figure of its own). -1: not required.
   * The best single signal of a right first citation on the dev set (EVALUATION.md).
   */
  AUTO_SEND_MIN_MARGIN: z.coerce.number().min(-1).max(1).default(0.1),
  /** Least share of the question's content words found in the passages the reply cites. */
  AUTO_SEND_MIN_COVERAGE: fraction(0),
  /** Least confidence the model states for its own reply (models that state none are not judged on it). */
  AUTO_SEND_MIN_MODEL_CONFIDENCE: fraction(0.5),
  /** Least share of a claim's content words the passages it cites must hold; a claim below it makes the reply a draft. */
  REPLY_MIN_SUPPORT: fraction(0.5),
  /** Signature that ends every reply, after the closing ("Kind regards,"); `\n` starts a new line. MAILBOX_SETTINGS can set one per mailbox. */
  REPLY_SIGNATURE: text('Customer Support'),
  /**
   * Public address of a page of the manuals, linked from the reply's sources: `{document}` is the
   * uploaded file name, `{page}` the page number, e.g. `https://docs.example.com/manuals/{document}#page={page}`.
   * Empty: no links. MAILBOX_SETTINGS can set one per mailbox.
   */
  MANUALS_PUBLIC_URL: z
    .string()
    .refine(
      (value) => value === '' || (/^https?:\/\//.test(value) && value.includes('{document}')),
      'an http(s) URL containing {document} (and usually {page})',
    )
    .default(''),
  /**
   * Per-mailbox reply settings as JSON, e.g.
   * `{"support@acme.example": {"signature": "Acme Support", "manuals_url": "https://acme.example/docs/{document}#page={page}"}}`.
   */
  MAILBOX_SETTINGS: z.string().transform(parseMailboxSettings).default(new Map()),
  /** Token bucket per mailbox: sends per minute and burst. */
  SEND_RATE_PER_MINUTE: integer(60, 1),
  SEND_BURST: integer(10, 1),
  /** Replies per mailbox per UTC day (the specification's 250). */
  DAILY_SEND_QUOTA: integer(250, 0),
  /** How long a sender's claim on an email holds before another sender may take it over. */
  SEND_LEASE_MS: integer(120_000, 1_000),
});

export type Environment = z.infer<typeof environmentSchema>;

/**
 * The variables holding a password, key or token (or a URL with a password in it). Each may be read
 * from a file instead, named by `<NAME>_FILE` (Docker and Kubernetes secrets; src/app/secret-files.ts),
 * and a problem never quotes its value. One name per line: a new secret joins with one line.
 */
export const SECRET_VARIABLES = [
  'AMQP_URL',
  'AMQP_KEY_PASSPHRASE',
  'RABBITMQ_MANAGEMENT_URL',
  'REDIS_URL',
  'DATABASE_URL',
  'DATABASE_PASSWORD',
  'API_TOKENS',
  'GEMINI_API_KEY',
  'ANTHROPIC_API_KEY',
  'OPENAI_API_KEY',
  'PINECONE_API_KEY',
  'GMAIL_CLIENT_SECRET',
  'GMAIL_REFRESH_TOKEN',
  'IMAP_PASSWORD',
  'IMAP_ACCESS_TOKEN',
  'IMAP_OAUTH2_CLIENT_SECRET',
  'IMAP_OAUTH2_REFRESH_TOKEN',
  'SMTP_PASSWORD',
] as const satisfies readonly (keyof Environment)[];

/** The typed configuration every part of the program receives. */
export interface Config extends Environment {
  SEND_POLICY: SendMode;
  /** Whether SEND_POLICY was set, rather than derived from the first language model. */
  sendPolicySet: boolean;
  MAILDIR_ROOT: string;
  DATABASE_PATH: string;
  VECTOR_DB_PATH: string;
  UPLOAD_DIR: string;
  /** LLM_PROVIDERS as a list. */
  llmProviders: string[];
  /** MAILBOX_POLICIES as a map. */
  mailboxPolicies: Map<string, SendMode>;
  /** API_TOKENS as a list; empty means the `api` role generates one (see API_TOKENS). */
  apiTokens: ApiToken[];
  /** Every URL of AMQP_URL, in order; AMQP_URL itself is the first (its vhost, its user, for messages). */
  amqpUrls: string[];
}

/** A configuration error: names each variable and what it accepts. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

function describeIssue(issue: z.core.$ZodIssue, env: Record<string, string | undefined>): string {
  const name = String(issue.path[0] ?? '(unknown)');
  return `${name}=${quotable(name, env[name] ?? '')}: ${issue.message}`;
}

/**
 * A value as a problem may quote it: a secret never, but a URL's host and scheme help, so a secret
 * URL is shown with its password masked (`scheme://user:***@host`), or hidden if it cannot be.
 */
function quotable(name: string, value: string): string {
  if (!(SECRET_VARIABLES as readonly string[]).includes(name)) return JSON.stringify(value);
  // Each URL of a list (AMQP_URL of a cluster) masked on its own.
  const parts = value.split(',');
  const masked = parts.map((part) => part.replace(/^(\s*[a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@]*@/i, '$1***@'));
  const allMasked = parts.every((part, index) => masked[index] !== part || !part.includes('@'));
  return name.endsWith('_URL') && allMasked ? JSON.stringify(masked.join(',')) : '(hidden)';
}

/**
 * amqplib takes a URL without a scheme or host and fails later in ways that do not point here
 * (`localhost:5672` parses as the scheme `localhost:`), so the boot would wait for a broker it can never reach.
 */
function isAmqpUrl(value: string): boolean {
  try {
    const url = new URL(value);
    return (url.protocol === 'amqp:' || url.protocol === 'amqps:') && url.hostname !== '';
  } catch {
    return false;
  }
}

/** The variables each Config was parsed from (see {@link environmentOf}). */
const sourceEnvironments = new WeakMap<Config, Readonly<Record<string, string | undefined>>>();

/**
 * The variables `config` was parsed from, as given (a secret's `<NAME>_FILE` still a file name):
 * what a child process must be given to run with the same configuration (the api role's
 * evaluations), whether the parent's came from process.env, .env or a test's own variables.
 * Only a Config made by loadConfig has one.
 */
export function environmentOf(config: Config): Readonly<Record<string, string | undefined>> {
  const environment = sourceEnvironments.get(config);
  if (!environment) throw new Error('this configuration was not made by loadConfig: it has no environment to hand a child process');
  return environment;
}

/** The URLs of a comma-separated AMQP_URL. */
export function splitAmqpUrls(value: string): string[] {
  return value
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
}

/**
 * One URL, or several (a cluster's nodes) of one scheme and one vhost: the TLS settings, the
 * topology and the management API's vhost are the same whichever node a worker reaches.
 */
function isAmqpUrlList(value: string): boolean {
  const urls = splitAmqpUrls(value);
  if (urls.length === 0 || !urls.every(isAmqpUrl)) return false;
  const parsed = urls.map((url) => new URL(url));
  return parsed.every((url) => url.protocol === parsed[0]!.protocol && url.pathname.replace(/\/$/, '') === parsed[0]!.pathname.replace(/\/$/, ''));
}

/** Parses the environment into a Config, or throws ConfigError naming every bad variable. */
export function loadConfig(variables: Record<string, string | undefined> = process.env): Config {
  // `<NAME>_FILE` first, so a secret read from a file is checked as one set directly.
  const fromFiles = readSecretFiles(variables, SECRET_VARIABLES);
  if (fromFiles.problems.length > 0) throw new ConfigError(fromFiles.problems);
  const env = fromFiles.env;
  // Empty strings mean "unset", so a blank line in .env keeps the default.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = environmentSchema.safeParse(present);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((issue) => describeIssue(issue, env)));
  const values = parsed.data;
  // API_TOKENS' placeholders are refused even in a demo (parseApiTokens): an empty value makes a real token.
  const examples = exampleSecretsIn(env, [...SECRET_VARIABLES.filter((name) => name !== 'API_TOKENS'), ...STACK_PASSWORD_VARIABLES]);
  if (examples.length > 0 && !values.RAGMAIL_DEMO) {
    throw new ConfigError([
      `${examples.join(', ')}: an example password of this repository (change-me-…, or the broker admin ragmail/ragmail), known to anyone who read it. Set your own (rabbitmq/README.md, "Passwords"), or RAGMAIL_DEMO=true for a demo on one machine.`,
    ]);
  }
  if (values.CHUNK_OVERLAP >= values.CHUNK_SIZE) {
    throw new ConfigError([`CHUNK_OVERLAP=${values.CHUNK_OVERLAP}: must be smaller than CHUNK_SIZE (${values.CHUNK_SIZE})`]);
  }
  const inData = (value: string, name: string) => value || path.join(values.DATA_DIR, name);
  const databaseUrl = withDatabasePassword(values.DATABASE_URL, values.DATABASE_PASSWORD);
  const mailboxPolicies = new Map<string, SendMode>();
  for (const pair of values.MAILBOX_POLICIES.split(',').filter((entry) => entry.trim())) {
    const [address, mode] = pair.split('=').map((part) => part.trim());
    mailboxPolicies.set(address.toLowerCase(), mode as SendMode);
  }
  const apiTokens = parseApiTokens(values.API_TOKENS);
  const llmProviders = values.LLM_PROVIDERS.split(',').map((name) => name.trim());
  const amqpUrls = splitAmqpUrls(values.AMQP_URL);
  const config: Config = {
    ...values,
    AMQP_URL: amqpUrls[0]!,
    amqpUrls,
    DATABASE_URL: databaseUrl,
    SEND_POLICY: values.SEND_POLICY ?? (llmProviders[0] === 'local' ? 'draft' : 'auto'),
    sendPolicySet: values.SEND_POLICY !== undefined,
    MAILDIR_ROOT: inData(values.MAILDIR_ROOT, 'maildir'),
    DATABASE_PATH: inData(values.DATABASE_PATH, 'ragmail.db'),
    VECTOR_DB_PATH: inData(values.VECTOR_DB_PATH, 'vectors.db'),
    UPLOAD_DIR: inData(values.UPLOAD_DIR, 'uploads'),
    llmProviders,
    mailboxPolicies,
    apiTokens,
  };
  sourceEnvironments.set(config, { ...variables });
  return config;
}

/**
 * DATABASE_URL with DATABASE_PASSWORD written into it (percent-encoded, as the URL's password must
 * be), so every store opens the one URL. Problems never quote the password.
 */
function withDatabasePassword(url: string, password: string): string {
  if (password === '') return url;
  if (url === '') {
    throw new ConfigError([
      'DATABASE_PASSWORD is set without DATABASE_URL: it is the password of the PostgreSQL database DATABASE_URL names (the SQLite file of DATABASE_PATH has none)',
    ]);
  }
  const parsed = new URL(url);
  if (parsed.password !== '') {
    throw new ConfigError([
      `DATABASE_URL=${quotable('DATABASE_URL', url)} has a password and DATABASE_PASSWORD gives another: keep one (DATABASE_PASSWORD is for a URL without one)`,
    ]);
  }
  parsed.password = encodeURIComponent(password);
  return parsed.toString();
}

/** Named address ranges fastify's trustProxy (proxy-addr) knows. */
const TRUSTED_RANGE_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

/** API_TRUST_PROXY as fastify's `trustProxy`: a boolean, or the addresses/CIDRs of the trusted proxies. */
function parseTrustProxy(value: string, context: z.core.$RefinementCtx<string>): boolean | string[] {
  const trimmed = value.trim().toLowerCase();
  if (trimmed === 'true' || trimmed === 'false') return trimmed === 'true';
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean);
  const isAddressOrRange = (entry: string) => {
    const [address = '', prefix, ...rest] = entry.split('/');
    const family = isIP(address);
    return rest.length === 0 && family !== 0 && (prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128)));
  };
  const wrong = entries.find((entry) => !TRUSTED_RANGE_NAMES.has(entry) && !isAddressOrRange(entry));
  if (entries.length === 0 || wrong !== undefined) {
    const hops = /^\d+$/.test(trimmed) ? ' (a hop count is not accepted: fastify 5 ignores it, as it cannot tell who wrote X-Forwarded-For)' : '';
    context.addIssue({
      code: 'custom',
      message: `expected true, false, or proxy addresses/CIDRs separated by commas (or loopback, linklocal, uniquelocal); ${JSON.stringify(wrong ?? value)} is none of these${hops}`,
    });
    return z.NEVER;
  }
  return entries;
}

/** The shortest API token accepted: a guessable one makes the throttle of failed sign-ins moot. */
export const MIN_API_TOKEN_LENGTH = 24;

/** Example tokens of this repository's files (deploy/config.yaml and the like): never a real secret. */
const PLACEHOLDER_TOKEN = /change-?me/i;

/** API_TOKENS as a list. Problems never quote the value: it holds secrets. */
function parseApiTokens(value: string): ApiToken[] {
  const pairs = value.split(',').map((pair) => pair.trim());
  if (pairs.length === 1 && pairs[0] === '') return [];
  const tokens = pairs.map((pair, index) => {
    const match = /^([A-Za-z0-9._@-]+)\s*=\s*(\S+)$/.exec(pair);
    if (!match) throw new ConfigError([`API_TOKENS: entry ${index + 1} is not name=token (names: letters, digits, . _ @ -; pairs separated by commas)`]);
    const [, name, token] = match;
    const advice = 'make one with `openssl rand -base64 32`, or leave API_TOKENS empty to have one generated';
    if (PLACEHOLDER_TOKEN.test(token)) throw new ConfigError([`API_TOKENS: the token of ${name} is the example placeholder; ${advice}`]);
    if (token.length < MIN_API_TOKEN_LENGTH)
      throw new ConfigError([`API_TOKENS: the token of ${name} is shorter than ${MIN_API_TOKEN_LENGTH} characters; ${advice}`]);
    return { name, token };
  });
  const names = tokens.map((entry) => entry.name);
  const repeated = names.find((name, index) => names.indexOf(name) !== index);
  if (repeated !== undefined) throw new ConfigError([`API_TOKENS: the name ${repeated} is given twice; one token per name`]);
  return tokens;
}

const mailboxSettingsSchema = z.record(
  z.string().email(),
  z
    .object({
      signature: z.string().optional(),
      manuals_url: z
        .string()
        .regex(/^https?:\/\/.*\{document\}/, 'an http(s) URL containing {document}')
        .optional(),
    })
    .strict(),
);

/** MAILBOX_SETTINGS as a map keyed by the lower-cased address. */
function parseMailboxSettings(value: string, context: z.core.$RefinementCtx<string>): Map<string, MailboxSettings> {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    context.addIssue({ code: 'custom', message: 'a JSON object of address → {signature?, manuals_url?}' });
    return z.NEVER;
  }
  const parsed = mailboxSettingsSchema.safeParse(json);
  if (!parsed.success) {
    context.addIssue({ code: 'custom', message: `a JSON object of address → {signature?, manuals_url?}: ${z.prettifyError(parsed.error)}` });
    return z.NEVER;
  }
  return new Map(Object.entries(parsed.data).map(([address, settings]) => [address.toLowerCase(), settings]));
}
