/**
 * What the consumer runtime reads from a delivery's body and headers without trusting it: the ids
 * its logs, events and dead-letter records are labelled with, whatever shape the body has.
 */
import type { ConsumeMessage } from 'amqplib';

/** A string found at `keys` in the body, or null for any other shape. */
function field(body: unknown, ...keys: string[]): string | null {
  let current: unknown = body;
  for (const key of keys) {
    if (!current || typeof current !== 'object' || !(key in current)) return null;
    current = (current as Record<string, unknown>)[key];
  }
  return typeof current === 'string' ? current : null;
}

/** The body as JSON, or its raw text when it is not JSON (as the dead-letter record keeps it). */
export function parsedOrRaw(message: ConsumeMessage): unknown {
  const text = message.content.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export const messageIdOf = (body: unknown) => field(body, 'message_id');
export const emailIdOf = (body: unknown) => field(body, 'email', 'email_id');
export const documentIdOf = (body: unknown) => field(body, 'document_id');
export const agentEmailOf = (body: unknown) => field(body, 'email', 'agent_email') ?? field(body, 'agent_email');

/** `x-death` grows on every pass through a wait queue; the attempts header says all that is needed. */
export function stripDeathHeaders(headers: Record<string, unknown> | undefined): Record<string, unknown> {
  const { 'x-death': _death, 'x-first-death-exchange': _exchange, 'x-first-death-queue': _queue, 'x-first-death-reason': _reason, ...rest } = headers ?? {};
  return rest;
}
