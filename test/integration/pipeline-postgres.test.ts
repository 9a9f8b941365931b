/**
 * DATABASE_URL end to end: every role of one process on a PostgreSQL database of its own — the
 * recorder's activity log and offset, the document registry, the sender's ledger and quota.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ROLE_NAMES } from '../../src/app/registry.js';
import { createTestPostgres } from '../helpers/postgres.js';
import { deliverSampleEmails, ingestSampleManuals, startPipeline, waitForFinalStates } from '../helpers/pipeline.js';

test('with DATABASE_URL the sample emails run through every role and every store lives in PostgreSQL', { timeout: 180_000 }, async () => {
  const postgres = await createTestPostgres();
  const pipeline = await startPipeline(ROLE_NAMES, { DATABASE_URL: postgres.url });
  try {
    assert.equal(pipeline.database.engine, 'postgres');
    const manuals = await ingestSampleManuals(pipeline);
    const delivered = await deliverSampleEmails(pipeline);
    const states = await waitForFinalStates(
      pipeline,
      [...delivered.values()].map((item) => item.email.email_id),
    );
    const stateOf = (name: string) => states.get(delivered.get(name)!.email.email_id)!.state;
    assert.deepEqual(
      [...states.values()].filter((summary) => summary.state === 'dead_lettered').map((summary) => summary.email_id),
      [],
    );
    assert.deepEqual([stateOf('07-newsletter.eml'), stateOf('08-out-of-office.eml'), stateOf('09-spam-prize.eml')], ['skipped', 'skipped', 'ignored']);
    const count = async (table: string) => (await pipeline.database.get<{ total: number }>(`SELECT COUNT(*) AS total FROM ${table}`))!.total;
    assert.equal(await count('documents'), manuals.size);
    assert.equal(await count('emails'), delivered.size);
    assert.equal(
      await count('published_emails'),
      [...states.values()].filter((summary) => summary.state !== 'skipped').length,
      'the poller recorded every email it published (automated mail is skipped, not published)',
    );
    assert.ok((await count('send_ledger')) > 0, "the sender's claims are in the shared ledger");
    assert.ok((await count('stream_offsets')) === 1, "the recorder's offset is stored");
  } finally {
    await pipeline.close();
    await postgres.drop();
  }
});
