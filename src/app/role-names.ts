/**
 * The roles' names and what each does, apart from their definitions (registry.ts): the CLI's help
 * and argument checks need them, and must not load every role and provider to print them.
 */
export const ROLE_NAMES = ['classifier', 'responder', 'sender', 'ingester', 'poller', 'recorder', 'api'] as const;
export type RoleName = (typeof ROLE_NAMES)[number];

export const ROLE_DESCRIPTIONS: { readonly [Name in RoleName]: string } = {
  classifier: 'emails.to_classify → LLM: support inquiry or not → emails.to_respond',
  responder: 'emails.to_respond → retrieve passages, LLM reply with citations → emails.to_send',
  sender: 'emails.to_send → send policy, rate limit, quota → reply or draft in the thread, exactly once',
  ingester: 'documents.to_ingest → PDF pages → chunks → vector store (one document at a time)',
  poller: 'mailbox → emails.to_classify, with a priority; automated mail skipped',
  recorder: 'events.audit stream → activity log, document registry and review queue (on PostgreSQL one recorder projects, the others stand by)',
  api: 'operator API and dashboard (API_HOST:API_PORT): uploads, timeline, review queue, dead letters',
};
