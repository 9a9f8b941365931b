/**
 * Fault suite, issue 7: Redis unavailable for a while mid-flow. The workers use it for the
 * retrieval cache and for the cross-host send claims; two sender processes compete for the claims.
 * The case runs its own redis-server (the shared one on 6379 is never touched), kills it and starts
 * it again, empty, on the same port. While it is gone the cache must degrade to misses and the
 * claims fall back to the local ledger; when it is back, with every done marker forgotten, the
 * senders must still not send a reply twice. No email may be lost or dead-lettered.
 *
 * Already proven elsewhere: the cache and claim clients on their own, Redis killed under them and
 * started again (test/integration/redis.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FULL } from '../helpers/faults.js';
import { assertAccounted } from '../helpers/fault-accounting.js';
import { plannedOutages, withFaultRun } from '../helpers/fault-run.js';
import { startPrivateRedis } from '../helpers/private-redis.js';

const OUTAGES = FULL ? 2 : 1;

test(
  'Redis gone for a while mid-flow, then back empty: cache and claims fall back, every email replied exactly once or ended as it must, 0 lost, 0 sent twice',
  { timeout: 900_000 },
  async () => {
    const redis = await startPrivateRedis();
    try {
      await withFaultRun({ name: 'redis-outage', processes: ['all', 'sender'], environment: { REDIS_URL: redis.url } }, async (run) => {
        const outages = plannedOutages(run, { count: OUTAGES, firstBetween: [0.15, 0.45], down: () => redis.kill(), up: () => redis.restart() });
        const report = await run.flow({ faults: outages.faults, describe: () => `Redis gone ${outages.noted.join(', ')}` });

        assert.equal(outages.noted.length, OUTAGES, 'every planned outage happened');
        // The outage was felt where it matters: by the retrieval cache and by the send claims.
        assert.ok(run.fleet.countLines(/Redis unreachable; caching is off/) >= 1, `the cache noticed the outage\n${run.fleet.describe()}`);
        assert.ok(
          run.fleet.countLines(/Redis unreachable; send claims fall back to the local ledger/) >= 1,
          `the claims noticed the outage\n${run.fleet.describe()}`,
        );
        assert.deepEqual(run.fleet.unexpectedExits, [], 'no worker died');
        assertAccounted(report);
      });
    } finally {
      await redis.stop();
    }
  },
);
