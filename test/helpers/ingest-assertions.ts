/** What a refused document looks like after the ingester is done with it. */
import assert from 'node:assert/strict';
import { QUEUES } from '../../src/messaging/topology.js';
import type { DeadLetterRecord } from '../../src/pipeline/messages.js';
import { waitFor } from './broker.js';
import type { Pipeline } from './pipeline.js';

/** Checks a document was dead-lettered once (no retry) with `errorType`, and is marked failed with the reason. */
export async function assertRefused(
  pipeline: Pipeline,
  records: Map<string, DeadLetterRecord>,
  documentId: string,
  errorType: string | readonly string[],
  message: RegExp,
): Promise<void> {
  const record = records.get(documentId);
  assert.ok(record, `${documentId} dead-lettered`);
  assert.equal(record.original_queue, QUEUES.toIngest);
  const allowed = typeof errorType === 'string' ? [errorType] : errorType;
  assert.ok(allowed.includes(record.failure_info.error_type), `${documentId}: ${record.failure_info.error_type}: ${record.failure_info.error_message}`);
  assert.match(record.failure_info.error_message, message);
  assert.ok(record.failure_info.retry_count <= 1, `retry_count ${record.failure_info.retry_count}`);
  const registered = await waitFor(
    async () => {
      const document = await pipeline.documents.get(documentId);
      return document?.status === 'failed' ? document : undefined;
    },
    { what: `${documentId} marked failed` },
  );
  assert.equal(registered?.error, record.failure_info.error_message);
}
