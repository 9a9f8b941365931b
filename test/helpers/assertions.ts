/** Assertions shared by tests. */
import assert from 'node:assert/strict';
import { RagmailError } from '../../src/lib/errors.js';

/** The RagmailError `promise` rejects with; fails the test when it resolves or rejects with anything else. */
export async function rejection(promise: Promise<unknown>): Promise<RagmailError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof RagmailError, `a RagmailError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a rejection');
}
