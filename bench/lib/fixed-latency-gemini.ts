/**
 * A language model with a fixed latency, for the LLM-bound benchmark: the project's loopback Gemini
 * fake (test/fakes, Gemini's real wire format) answering every `generateContent` after exactly
 * `latencyMs`, with a fixed valid answer, so the worker under test runs the real `@google/genai`
 * SDK and its own code while the model costs nothing but time. It runs in the benchmark's own
 * process, apart from the worker it serves, so its CPU is not the worker's.
 */
import { geminiTextResponse } from '../../test/fakes/gemini-server.js';
import { startScriptedServer, type FakeServer, type RecordedRequest } from '../../test/fakes/scripted-http-server.js';

/** What a classification request gets: a support inquiry, confident, as JSON mode asks. */
const CLASSIFICATION = JSON.stringify({ is_support_inquiry: true, category: 'technical', confidence: 0.95, reasoning: 'asks how to fix a product problem' });
const REPLY = 'Hello,\n\nHold the reset button for 10 seconds ("manual.pdf", page 3).\n\nKind regards,\nCustomer Support';

export interface FixedLatencyModel {
  /** Base URL for GEMINI_BASE_URL. */
  url: string;
  /** `performance.now()` of the first request since the last `reset`, undefined before it. */
  firstRequestAt(): number | undefined;
  /** Requests answered since the last `reset`. */
  requestCount(): number;
  reset(): void;
  close(): Promise<void>;
}

export async function startFixedLatencyModel(latencyMs: number): Promise<FixedLatencyModel> {
  let first: number | undefined;
  let count = 0;
  // Requests come only after the server is started and assigned.
  const server: FakeServer = await startScriptedServer((request: RecordedRequest) => {
    // Only the timing matters: the recorded requests would only grow.
    server.requests.splice(0);
    // The worker's start-up check asks for the model's info: answered at once, not counted.
    if (!request.path.endsWith(':generateContent')) {
      return {
        status: 200,
        body: { name: request.path.replace(/^\/v1beta\//, ''), displayName: 'fixed latency', inputTokenLimit: 1_048_576, outputTokenLimit: 65_536 },
      };
    }
    first ??= performance.now();
    count += 1;
    const body = request.body as { generationConfig?: { responseMimeType?: string } } | undefined;
    const json = body?.generationConfig?.responseMimeType === 'application/json';
    return geminiTextResponse(json ? CLASSIFICATION : REPLY, 'gemini-fixed-latency', latencyMs);
  });
  return {
    url: server.url,
    firstRequestAt: () => first,
    requestCount: () => count,
    reset: () => {
      first = undefined;
      count = 0;
    },
    close: () => server!.close(),
  };
}
