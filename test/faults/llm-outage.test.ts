/**
 * Fault suite, issue 7: the language models in trouble for a while mid-flow. The workers use the
 * fallback chain Gemini → Claude through their SDKs, against the loopback fakes; both answer 429
 * (quota), then 500, then nothing before the client's timeout, each for a seeded while, then they
 * recover. The roles ride the outage out (src/messaging/outage-breaker.ts): a message that meets it
 * goes back to its queue with its attempts uncounted and the role pauses, probing now and then,
 * until the models answer again. Every email must end as it must — replied exactly once, or skipped
 * or ignored — none lost, none answered twice, and none dead-lettered (the outage is far shorter than
 * OUTAGE_LIMIT_MS).
 *
 * Already proven elsewhere: each provider's mapping of 429 / 500 / timeouts to retryable errors
 * and the fallback chain on its own (test/unit/gemini-model.test.ts, anthropic-model.test.ts,
 * llm-fallback.test.ts), and a 429 falling back to Claude in the whole flow
 * (test/integration/cloud-pipeline.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { startFakeAnthropic } from '../fakes/anthropic-server.js';
import { startFakeGemini } from '../fakes/gemini-server.js';
import { DELIVERY_RATE_PER_SECOND } from '../helpers/faults.js';
import { assertAccounted } from '../helpers/fault-accounting.js';
import { withFaultRun } from '../helpers/fault-run.js';
import { startOutageProxy, type OutageKind } from '../helpers/outage-proxy.js';

/** The workers give up on a model call after this long; a `timeout` outage answers later than that. */
const LLM_TIMEOUT_MS = 1_000;

test(
  'Gemini and Claude answering 429, 500 and timeouts for a while: the roles pause and every email is replied exactly once or ended as it must after the recovery; 0 lost, 0 sent twice, 0 dead-lettered',
  { timeout: 900_000 },
  async () => {
    const [gemini, anthropic] = [await startFakeGemini(), await startFakeAnthropic()];
    const fronts = [await startOutageProxy(gemini.url, 'gemini', LLM_TIMEOUT_MS * 3), await startOutageProxy(anthropic.url, 'anthropic', LLM_TIMEOUT_MS * 3)];
    try {
      const environment = {
        LLM_PROVIDERS: 'gemini,anthropic',
        GEMINI_API_KEY: 'fault-test-key',
        GEMINI_BASE_URL: fronts[0]!.url,
        ANTHROPIC_API_KEY: 'fault-test-key',
        ANTHROPIC_BASE_URL: fronts[1]!.url,
        LLM_TIMEOUT_MS: String(LLM_TIMEOUT_MS),
      };
      await withFaultRun({ name: 'llm-outage', processes: ['all'], environment }, async (run) => {
        const size = run.emails.length;
        // Scaled to the delivery: the outage takes a good part of it.
        const deliveryMs = (size * 1000) / DELIVERY_RATE_PER_SECOND;
        const startsAfter = Math.round(run.random.between(0.15, 0.3) * size);
        const phases: Array<{ kind: OutageKind; ms: number }> = (['quota', 'server_error', 'timeout'] as const)
          // Each phase lasts a second at least, and a timeout phase outlasts two model timeouts, so
          // Claude times out too after Gemini did.
          .map((kind) => ({ kind, ms: Math.round(Math.max(run.random.between(0.08, 0.15) * deliveryMs, kind === 'timeout' ? 3 * LLM_TIMEOUT_MS : 1_000)) }));
        let recoveredAfter: number | undefined;
        let delivered = 0;
        let outage: Promise<void> | undefined;
        const report = await run.flow({
          faults: [
            {
              afterDelivered: startsAfter,
              run: () =>
                (outage = (async () => {
                  for (const { kind, ms } of phases) {
                    for (const front of fronts) front.outage = kind;
                    await delay(ms);
                  }
                  for (const front of fronts) front.outage = null;
                  recoveredAfter = delivered;
                })()),
            },
          ],
          onDelivered: (count) => {
            delivered = count;
            // The last tenth of the mail arrives only once the models are back.
            if (count === size - Math.ceil(size / 10)) return outage;
          },
          describe: () =>
            `models failing after ${startsAfter} delivered: ${phases.map(({ kind, ms }) => `${kind} ${(ms / 1000).toFixed(1)} s`).join(', ')}, ` +
            `answered ${fronts.map((front) => `${front.counts.quota}×429 ${front.counts.server_error}×500 ${front.counts.timeout}×timeout`).join(' / ')}`,
        });

        // The models were met failing (a paused role calls them only to probe, so not every kind need reach both).
        assert.ok(
          fronts.every((front) => front.counts.quota + front.counts.server_error + front.counts.timeout > 0),
          'both models answered with failures during the outage',
        );
        assertAccounted(report, { mayDeadLetter: () => false });
        assert.ok(recoveredAfter !== undefined && recoveredAfter < size, 'the models recovered while mail still arrived');
      });
    } finally {
      await Promise.all([...fronts, gemini, anthropic].map((server) => server.close()));
    }
  },
);
