/**
 * The whole pipeline on embedded defaults against the real RabbitMQ: every role in this process,
 * the sample manuals ingested, the sample emails dropped into the Maildir, and what became of each
 * email read back from the activity log, the broker and the reply files themselves.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ROLE_NAMES } from '../../src/app/registry.js';
import { EXCHANGES, ROUTING_KEYS } from '../../src/messaging/topology.js';
import type { ToClassifyMessage } from '../../src/pipeline/messages.js';
import {
  deliverSampleEmails,
  ingestSampleManuals,
  openChannel,
  readReplies,
  recipientsOf,
  startPipeline,
  waitForFinalStates,
  handoffBodyFor,
  ACME,
  GLOBEX,
  type ReplyFile,
} from '../helpers/pipeline.js';

const ADDRESS = /[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+/gi;

test('the sample emails run through every role to the expected outcome, with threaded replies to the sender only', { timeout: 180_000 }, async () => {
  const pipeline = await startPipeline(ROLE_NAMES);
  const raw = await openChannel(pipeline);
  try {
    // A queue of our own on the classify binding sees every message the poller publishes, with its AMQP priority.
    const { queue: tap } = await raw.channel.assertQueue('', { exclusive: true });
    await raw.channel.bindQueue(tap, EXCHANGES.email, ROUTING_KEYS.classify);

    const manuals = await ingestSampleManuals(pipeline);
    assert.equal(manuals.size, 3);
    for (const id of manuals.values()) assert.ok(((await pipeline.documents.get(id))?.chunks ?? 0) > 0, `document ${id} has chunks`);

    const delivered = await deliverSampleEmails(pipeline);
    assert.equal(delivered.size, 12);
    const byName = (name: string) => {
      const email = delivered.get(name);
      assert.ok(email, `sample ${name} delivered`);
      return email.email;
    };
    const summaries = await waitForFinalStates(
      pipeline,
      [...delivered.values()].map(({ email }) => email.email_id),
      120_000,
    );
    const stateOf = (name: string) => summaries.get(byName(name).email_id)!;

    for (const [name, summary] of [...delivered].map(([name, { email }]) => [name, summaries.get(email.email_id)!] as const)) {
      assert.notEqual(summary.state, 'dead_lettered', `${name} was dead-lettered: ${summary.error_message}`);
    }

    // Outcomes of the emails the issue names.
    assert.equal(stateOf('07-newsletter.eml').state, 'skipped');
    assert.match(stateOf('07-newsletter.eml').outcome ?? '', /skipped: (Precedence|List-Id)/);
    assert.equal(stateOf('08-out-of-office.eml').state, 'skipped');
    assert.match(stateOf('08-out-of-office.eml').outcome ?? '', /skipped: Auto-Submitted/);
    assert.equal(stateOf('09-spam-prize.eml').state, 'ignored');
    assert.ok(['sent', 'drafted'].includes(stateOf('01-router-reset.eml').state));
    assert.ok(['sent', 'drafted'].includes(stateOf('04-refund-request.eml').state));

    // The urgent email went out with a high AMQP priority; nothing automated was published at all.
    const published = new Map<string, number | undefined>();
    for (let message = await raw.channel.get(tap, { noAck: true }); message; message = await raw.channel.get(tap, { noAck: true })) {
      const body = JSON.parse(message.content.toString('utf8')) as ToClassifyMessage;
      assert.ok(!published.has(body.email.email_id), `${body.email.email_id} published twice`);
      published.set(body.email.email_id, message.properties.priority);
    }
    assert.equal(published.size, 10);
    assert.ok((published.get(byName('03-urgent-internet-down.eml').email_id) ?? 0) >= 8, 'urgent email priority >= 8');
    assert.ok((published.get(byName('01-router-reset.eml').email_id) ?? 10) < 8, 'an ordinary email is not urgent');
    assert.ok(!published.has(byName('07-newsletter.eml').email_id) && !published.has(byName('08-out-of-office.eml').email_id));

    // One reply file per answered email, nothing for the rest.
    const replies = [...(await readReplies(pipeline, ACME)), ...(await readReplies(pipeline, GLOBEX))];
    const byInReplyTo = new Map<string, ReplyFile[]>();
    for (const reply of replies) {
      const key = reply.parsed.inReplyTo ?? '(none)';
      byInReplyTo.set(key, [...(byInReplyTo.get(key) ?? []), reply]);
    }
    const answered = [...delivered.values()].filter(({ email }) => ['sent', 'drafted', 'handed_off'].includes(summaries.get(email.email_id)!.state));
    assert.equal(replies.length, answered.length, 'one reply file per answered email');
    const replyTo = (name: string): ReplyFile => {
      const found = byInReplyTo.get(byName(name).message_id_header!) ?? [];
      assert.equal(found.length, 1, `exactly one reply to ${name}`);
      return found[0];
    };
    for (const name of ['07-newsletter.eml', '08-out-of-office.eml', '09-spam-prize.eml']) {
      assert.equal(byInReplyTo.get(byName(name).message_id_header!), undefined, `no reply to ${name}`);
    }

    // The grounded answers cite the manual page that holds the answer, by the title in the PDF's metadata.
    assert.ok(
      replyTo('01-router-reset.eml').parsed.text?.includes('Source: "ACME Router X200 User Manual", page 3'),
      replyTo('01-router-reset.eml').parsed.text,
    );
    assert.ok(stateOf('01-router-reset.eml').citations.some((citation) => citation.source === 'acme-router-x200-manual.pdf' && citation.page === 3));
    assert.ok(replyTo('04-refund-request.eml').parsed.text?.includes('Source: "ACME Billing Guide", page 2'), replyTo('04-refund-request.eml').parsed.text);

    // The question the manuals do not answer gets a hand-off draft, not an invented answer.
    const zigbeeSummary = stateOf('06-zigbee-question.eml');
    assert.equal(
      zigbeeSummary.state,
      'handed_off',
      `Zigbee question: ${zigbeeSummary.outcome}; top score ${zigbeeSummary.top_score}, cited ${JSON.stringify(zigbeeSummary.citations)}`,
    );
    const zigbee = replyTo('06-zigbee-question.eml');
    assert.equal(zigbee.folder, 'drafts');
    assert.equal(zigbee.headers['x-ragmail-status'], 'draft');
    assert.equal(zigbee.parsed.text?.trim(), handoffBodyFor(byName('06-zigbee-question.eml')));
    assert.doesNotMatch(zigbee.parsed.text ?? '', /page \d/);

    // Every reply: to the sender (or Reply-To) only, in the thread, marked as an automatic reply.
    const bodyAddresses = new Set([...delivered.values()].flatMap(({ email }) => (email.body.match(ADDRESS) ?? []).map((address) => address.toLowerCase())));
    assert.ok(bodyAddresses.has('office@contoso-partners.example'), 'the samples do carry addresses in their bodies');
    for (const { name, email } of answered) {
      const reply = replyTo(name);
      const expected = name === '10-warranty-rma-reply-to.eml' ? 'dana@whitfield-home.example' : email.from;
      assert.deepEqual(recipientsOf(reply.parsed), [expected], `recipients of the reply to ${name}`);
      assert.equal(reply.parsed.inReplyTo, email.message_id_header, `In-Reply-To of the reply to ${name}`);
      assert.match(reply.parsed.subject ?? '', /^Re: /, `subject of the reply to ${name}`);
      assert.doesNotMatch(reply.parsed.subject ?? '', /^Re: Re:/i);
      assert.equal(reply.headers['auto-submitted'], 'auto-replied', `Auto-Submitted of the reply to ${name}`);
      assert.equal(reply.parsed.from?.address, email.agent_email);
      for (const address of recipientsOf(reply.parsed)) {
        assert.ok(address === expected || !bodyAddresses.has(address), `reply to ${name} went to ${address}, taken from a body`);
      }
    }
    assert.equal(recipientsOf(replyTo('10-warranty-rma-reply-to.eml').parsed)[0], 'dana@whitfield-home.example');
  } finally {
    await raw.close();
    await pipeline.close();
  }
});
