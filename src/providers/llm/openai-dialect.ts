/**
 * Which request fields an OpenAI-compatible server reads (see openai.ts). Apart from the provider,
 * so that choosing it does not load the `openai` SDK.
 */

/** `openai`: OpenAI's own API; `compatible`: any other server that speaks it. */
export type OpenAIDialect = 'openai' | 'compatible';

/** OpenAI's own endpoint (no base URL, or one on api.openai.com) speaks `openai`; anything else `compatible`. */
export function openaiDialect(baseUrl: string | undefined): OpenAIDialect {
  if (!baseUrl) return 'openai';
  try {
    return new URL(baseUrl).hostname === 'api.openai.com' ? 'openai' : 'compatible';
  } catch {
    return 'compatible';
  }
}
