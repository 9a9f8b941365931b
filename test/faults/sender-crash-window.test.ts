/**
 * Fault suite, issue 7: the narrowest window the kills and broker restarts hit — a sender that
 * wrote the reply (or the draft) and died, or lost the broker, before its `sent` / `drafted` /
 * `handed_off` event went out. The redelivered message finds the reply in the mailbox and does not
 * send it again (test/integration/idempotency.test.ts proves that); here the activity log must
 * show the reply too, exactly once, or the email stays `replied` forever and a draft never
 * reaches anyone. Made deterministic by leaving the reply in the mailbox as the dying sender did.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { buildEvent, eventRoutingKey } from '../../src/messaging/events.js';
import { EXCHANGES } from '../../src/messaging/topology.js';
import { mailboxKeyOf } from '../../src/pipeline/messages.js';
import { replyMessageId } from '../../src/providers/mailbox/mime.js';
import { waitFor } from '../helpers/broker.js';
import { makeEmail } from '../helpers/email-fixtures.js';
import { sendMessage, waitForSettled, withPipeline } from '../helpers/pipeline.js';
import { toSend } from '../../src/pipeline/stages.js';

const MAILBOX = 'support@widgets.example';

for (const kind of ['sent', 'handed_off'] as const) {
  test(
    `a sender that died after writing its reply but before its event: the redelivered message records the reply in the activity log as ${kind}, once`,
    { timeout: 60_000 },
    async () => {
      await withPipeline(['sender', 'recorder'], { SEND_POLICY: 'auto' }, async (pipeline) => {
        const raw = makeEmail({ to: MAILBOX, subject: 'How do I reset my router?', body: 'Hello, how do I reset my X200 router?\n' });
        const message = await sendMessage(MAILBOX, raw, { handoff: kind === 'handed_off' });
        const { email } = message;
        // What the dying sender got done: the reply (or the hand-off draft) is in the mailbox, nothing else.
        const reply = {
          email,
          message_id: replyMessageId(mailboxKeyOf(email), MAILBOX),
          subject: message.generated_response.subject,
          body: message.generated_response.body,
        };
        const { mailbox } = pipeline.worker.services;
        await (kind === 'sent' ? mailbox.send(reply) : mailbox.saveDraft(reply));

        await pipeline.worker.broker.publish(toSend, message);
        assert.deepEqual(
          (await waitForSettled(pipeline, 'sender', 1)).map((info) => info.status),
          ['duplicate'],
          'not sent again',
        );
        await waitFor(async () => (await pipeline.activity.getEmail(email.email_id))?.state === kind, {
          timeoutMs: 10_000,
          what: `the activity log to show the reply as ${kind} (it says ${(await pipeline.activity.getEmail(email.email_id))?.state ?? 'nothing'})`,
        });

        // A second redelivery of the same message adds nothing to the timeline.
        await pipeline.worker.broker.publish(toSend, message);
        await waitForSettled(pipeline, 'sender', 2);
        // The stream keeps order: once a marker published after the handling is in the log, so is
        // every event the handling published before its ack.
        const marker = `marker.${randomUUID()}@tests.example`;
        // `marker` is no stage of the pipeline: published raw, it is recorded as an event of an unknown stage is.
        const event = buildEvent('test', { stage: 'marker', email_id: marker, agent_email: MAILBOX });
        await pipeline.worker.broker.publishRaw(EXCHANGES.events, eventRoutingKey(event), event);
        await waitFor(async () => (await pipeline.activity.timeline(marker)).length === 1, { timeoutMs: 10_000, what: 'the marker event in the activity log' });
        assert.equal((await pipeline.activity.timeline(email.email_id)).filter((event) => event.stage === kind).length, 1, `one ${kind} event`);
      });
    },
  );
}
