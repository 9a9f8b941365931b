/**
 * The conversation view's API against the real pipeline: an email answered on its own comes back
 * with the customer's text and the whole reply exactly as it went out (not an excerpt), the
 * responder's decision with its reasons, and citations whose signed links open the stored PDF —
 * links that a changed signature, another document or an expired time do not open.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFileLinkSigner } from '../../src/http/api/file-links.js';
import { ingestSampleManuals, readReplies, SAMPLES, ACME, startPipeline, waitForFinalStates, deliverEmail } from '../helpers/pipeline.js';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

interface Conversation {
  customer: { from: string; subject: string; body: string | null };
  reply: { subject: string | null; body: string; source: string; complete: boolean } | null;
  decision: { action: string; reasons: string[] } | null;
  citations: Array<{ source: string; page: number | null; document_id: string | null; url: string | null }>;
  timeline: Array<{ stage: string }>;
}

test(
  'a sent reply reads in full beside the customer text and the decision; each citation opens its stored PDF through a signed, expiring link',
  { timeout: 180_000 },
  async () => {
    // Thresholds at zero: the local model's grounded reply goes out on its own, as a production model's would.
    const pipeline = await startPipeline(['poller', 'classifier', 'responder', 'sender', 'ingester', 'recorder', 'api'], {
      SEND_POLICY: 'auto',
      AUTO_SEND_MIN_CONFIDENCE: '0',
      AUTO_SEND_MIN_SCORE: '0',
      AUTO_SEND_MIN_MARGIN: '-1',
      AUTO_SEND_MIN_MODEL_CONFIDENCE: '0',
    });
    try {
      await ingestSampleManuals(pipeline);
      const raw = await readFile(path.join(SAMPLES, 'emails', ACME, '01-router-reset.eml'));
      const { email } = await deliverEmail(pipeline, ACME, raw, '01-router-reset.eml');
      const summary = (await waitForFinalStates(pipeline, [email.email_id], 90_000)).get(email.email_id);
      assert.equal(summary?.state, 'sent', `the reply went out on its own (${summary?.outcome})`);
      const outbox = (await readReplies(pipeline, ACME)).find((reply) => reply.folder === 'outbox');
      assert.ok(outbox?.parsed.text);

      const get = (route: string, headers: Record<string, string> = {}) => fetch(`${pipeline.apiUrl}${route}`, { headers });
      const bearer = { authorization: `Bearer ${pipeline.apiToken}` };
      const route = `/api/emails/${encodeURIComponent(email.email_id)}/conversation`;
      assert.equal((await get(route)).status, 401);
      const answer = await get(route, bearer);
      assert.equal(answer.status, 200);
      const conversation = (await answer.json()) as Conversation;

      assert.equal(conversation.customer.body, email.body.replace(/\r\n?/g, '\n'));
      assert.ok(conversation.reply);
      assert.deepEqual([conversation.reply.source, conversation.reply.complete], ['sent', true]);
      // The whole reply as it went out: the outbox file's text, not the summary's excerpt.
      assert.equal(conversation.reply.body.trim(), outbox.parsed.text.replace(/\r\n?/g, '\n').trim());
      assert.ok(conversation.reply.body.length > 280, `longer than the excerpt the responder's event keeps (${conversation.reply.body.length})`);
      assert.equal(conversation.decision?.action, 'send');
      assert.ok((conversation.decision?.reasons.length ?? 0) > 0, 'the decision says why');
      assert.ok(conversation.timeline.some((event) => event.stage === 'sent'));

      assert.ok(conversation.citations.length > 0, 'the reply cites its manual');
      for (const citation of conversation.citations) {
        assert.ok(citation.url && citation.document_id, `${citation.source} has a link`);
        assert.match(citation.url, new RegExp(`^/manual-files/[^?#]+\\?expires=\\d+&signature=[\\w-]+#page=${citation.page}$`));
        assert.ok(!citation.url.includes(pipeline.apiToken ?? '-'), 'the token is not in the link');
        const file = await get(citation.url.split('#')[0]);
        assert.equal(file.status, 200);
        assert.equal(file.headers.get('content-type'), 'application/pdf');
        assert.match(file.headers.get('content-disposition') ?? '', /^inline; /);
        assert.equal(file.headers.get('cache-control'), 'private, no-store');
        assert.equal(
          Buffer.from(await file.arrayBuffer())
            .subarray(0, 5)
            .toString(),
          '%PDF-',
        );
      }
      const [link] = conversation.citations.map((citation) => citation.url!.split('#')[0]);
      const refused = async (url: string, code: string) => {
        const response = await get(url, bearer);
        assert.equal(response.status, 403, url);
        assert.equal(((await response.json()) as { code: string }).code, code);
      };
      // The bearer token does not stand in for a signature, and a signature opens only its own document.
      await refused(link.replace(/signature=[\w-]+/, 'signature=AAAA'), 'link_invalid');
      await refused(link.replace(/\?.*$/, ''), 'link_invalid');
      const otherDocument = [...(await pipeline.documents.list(ACME))].find((document) => !link.includes(encodeURIComponent(document.document_id)));
      assert.ok(otherDocument);
      await refused(link.replace(/^\/manual-files\/[^?]+/, `/manual-files/${encodeURIComponent(otherDocument.document_id)}`), 'link_invalid');
      // A link signed (with the same tokens) an hour ago has expired.
      const signer = createFileLinkSigner([{ name: 'tester', token: pipeline.apiToken! }]);
      await refused(signer.link(otherDocument.document_id, Date.now() - 3_600_000), 'link_expired');
      assert.equal((await get(signer.link(otherDocument.document_id))).status, 200, 'a fresh link of the same signer opens');

      const unknown = await get(`/api/emails/${encodeURIComponent('<nobody@example.com>')}/conversation`, bearer);
      assert.equal(unknown.status, 404);
    } finally {
      await pipeline.close();
    }
  },
);
