/**
 * The lead's figures over HTTP: emails by outcome per day for a period and mailbox, the auto-send
 * rate, time to reply (median, p90), what reviewers did with drafts, why emails were handed off or
 * drafted; and the knowledge gaps (handed-off and low-relevance questions grouped by shared terms,
 * the pages cited most) as JSON and as CSV. The activity log is filled with events of known times.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildEvent } from '../../src/messaging/events.js';
import { ReviewQueue } from '../../src/store/reviews.js';
import type { ToSendMessage } from '../../src/pipeline/messages.js';
import { ACME, GLOBEX, withPipeline, type Pipeline } from '../helpers/pipeline.js';

const at = (day: number, hour: number, minute = 0, second = 0) => new Date(Date.UTC(2026, 10, day, hour, minute, second)).toISOString();

type Step = [stage: string, time: string, detail?: Record<string, unknown>];

async function story(pipeline: Pipeline, emailId: string, subject: string, body: string, steps: Step[], agentEmail = ACME): Promise<void> {
  for (const [stage, timestamp, detail = {}] of steps) {
    const full =
      stage === 'received'
        ? { from: 'customer@example.com', subject, received_at: timestamp, priority: 5, message: { email: { email_id: emailId, body } }, ...detail }
        : detail;
    const role = ['sent', 'drafted', 'handed_off'].includes(stage) ? 'sender' : 'test';
    await pipeline.activity.record(buildEvent(role, { stage, email_id: emailId, agent_email: agentEmail, timestamp, detail: full } as never));
  }
}

const support = { is_support_inquiry: true, category: 'technical', confidence: 0.9, reasoning: 'r' };
const cites = (...pages: number[]) => ({ handoff: false, excerpt: 'x', citations: pages.map((page) => ({ source: 'x200.pdf', page })) });
const handoff = { handoff: true, excerpt: 'A person will answer', citations: [] };

async function fill(pipeline: Pipeline): Promise<void> {
  await story(pipeline, 'e1', 'Reset password', 'How do I reset the admin password?', [
    ['received', at(2, 9)],
    ['classified', at(2, 9, 0, 5), support],
    ['replied', at(2, 9, 0, 10), cites(3)],
    ['sent', at(2, 9, 0, 30), { mode: 'auto', message_id: '<r1>' }],
  ]);
  await story(pipeline, 'e2', 'Router firmware', 'Where is the firmware changelog of the X200?', [
    ['received', at(2, 10)],
    ['classified', at(2, 10, 0, 5), support],
    ['retrieved', at(2, 10, 0, 10), { top_score: 0.2, chunks: [] }],
    ['replied', at(2, 10, 1), cites(3, 5)],
    ['sent', at(2, 10, 1, 30), { mode: 'auto', message_id: '<r2>' }],
  ]);
  await story(pipeline, 'e3', 'Lights', 'What do the lights mean?', [
    ['received', at(3, 8)],
    ['classified', at(3, 8, 0, 5), support],
    ['drafted', at(3, 8, 1), { mode: 'auto', message_id: '<r3>', reason: 'retrieval score 0.21 below 0.3' }],
    ['review_approved', at(3, 11), { by: 'ann', edited: true, body: 'Edited' }],
    ['sent', at(3, 12), { mode: 'review', message_id: '<r3>' }],
  ]);
  await story(pipeline, 'e4', 'Battery warranty claim', 'My battery stopped charging. Is it under warranty?', [
    ['received', at(3, 9)],
    ['classified', at(3, 9, 0, 5), support],
    ['replied', at(3, 9, 0, 10), handoff],
    ['handed_off', at(3, 9, 0, 20), { mode: 'auto', message_id: '<r4>', reason: 'nothing relevant in the manuals' }],
  ]);
  await story(pipeline, 'e5', '=Warranty for a battery', 'Does the warranty cover a swollen battery?', [
    ['received', at(3, 9, 30)],
    ['classified', at(3, 9, 30, 5), support],
    ['replied', at(3, 9, 30, 10), handoff],
    ['handed_off', at(3, 9, 30, 20), { mode: 'auto', message_id: '<r5>', reason: 'nothing relevant in the manuals' }],
  ]);
  await story(pipeline, 'e6', 'You won', 'Claim your prize', [
    ['received', at(3, 10)],
    ['ignored', at(3, 10, 0, 5), { is_support_inquiry: false, category: 'spam', confidence: 0.99, reasoning: 'r' }],
  ]);
  await story(pipeline, 'e7', 'Newsletter', '', [['skipped', at(2, 11), { from: 'news@example.com', subject: 'Newsletter', reason: 'List-Id' }]]);
  await story(pipeline, 'e8', 'Broken', 'x', [
    ['received', at(3, 11)],
    ['dead_lettered', at(3, 11, 5), { error_message: 'boom', error_type: 'llm_rejected', queue: 'emails.to_respond' }],
  ]);
  await story(pipeline, 'e9', 'Refund', 'I want my money back', [
    ['received', at(3, 12)],
    ['classified', at(3, 12, 0, 5), support],
    ['drafted', at(3, 12, 1), { mode: 'review', message_id: '<r9>', reason: 'review mode' }],
    ['review_rejected', at(3, 13), { by: 'ann', note: null }],
  ]);
  await story(pipeline, 'e12', 'Manual', 'Where is the manual?', [
    ['received', at(3, 14)],
    ['classified', at(3, 14, 0, 5), support],
    ['drafted', at(3, 14, 1), { mode: 'auto', message_id: '<r12>', reason: 'retrieval score 0.21 below 0.3; model confidence 0.4 below 0.5' }],
  ]);
  // Another mailbox, and a day after the period: neither counts.
  await story(
    pipeline,
    'g1',
    'Battery warranty',
    'battery warranty',
    [
      ['received', at(2, 9)],
      ['sent', at(2, 9, 1), { mode: 'auto', message_id: '<g1>' }],
    ],
    GLOBEX,
  );
  await story(pipeline, 'e11', 'Battery warranty late', 'battery warranty', [['received', at(9, 9)]]);

  const reviews = new ReviewQueue(pipeline.database);
  const draft = (emailId: string) =>
    ({
      email: { email_id: emailId, agent_email: ACME, body: 'b', reply_recipient: 'customer@example.com' },
      generated_response: { body: 'Draft' },
    }) as unknown as ToSendMessage;
  await reviews.open(draft('e3'), 'low score', at(3, 8, 1));
  await reviews.decide('e3', { action: 'approved', by: 'ann', body: 'Edited', at: at(3, 11) });
  await reviews.open(draft('e9'), 'review mode', at(3, 12, 1));
  await reviews.decide('e9', { action: 'rejected', by: 'ann', at: at(3, 13) });
  await reviews.open(draft('e4'), 'hand-off', at(3, 9, 0, 20));
}

test('statistics: outcomes per day, auto-send rate, median and p90 time to reply, review decisions and hand-off reasons for a period and mailbox', async () => {
  await withPipeline(['api'], {}, async (pipeline) => {
    await fill(pipeline);
    const get = async (query: string) => {
      const response = await fetch(`${pipeline.apiUrl}/api/statistics${query}`, { headers: { authorization: `Bearer ${pipeline.apiToken}` } });
      return { status: response.status, body: (await response.json()) as Record<string, never> };
    };
    const { status, body } = await get(`?agent_email=${encodeURIComponent(ACME)}&from=2026-11-02&to=2026-11-03&utc_offset=0`);
    assert.equal(status, 200);
    const days = body.days as Array<Record<string, number | string>>;
    assert.deepEqual(
      days.map(({ day, auto_sent, approved_sent, drafted, handed_off, rejected, ignored, skipped, dead_lettered }) => [
        day,
        auto_sent,
        approved_sent,
        drafted,
        handed_off,
        rejected,
        ignored,
        skipped,
        dead_lettered,
      ]),
      [
        ['2026-11-02', 2, 0, 0, 0, 0, 0, 1, 0],
        ['2026-11-03', 0, 1, 1, 2, 1, 1, 0, 1],
      ],
    );
    assert.equal((body.totals as Record<string, number>).emails, 10);
    assert.equal(body.auto_send_rate, 2 / 7);
    assert.deepEqual(body.time_to_reply, {
      all: { count: 3, median_ms: 90_000, p90_ms: 4 * 3_600_000 },
      auto: { count: 2, median_ms: 30_000, p90_ms: 90_000 },
      reviewed: { count: 1, median_ms: 4 * 3_600_000, p90_ms: 4 * 3_600_000 },
    });
    assert.deepEqual(body.reviews, { approved_unchanged: 0, approved_edited: 1, rejected: 1, pending: 1 });
    assert.deepEqual(body.handoff_reasons, [{ reason: 'nothing relevant in the manuals', count: 2 }]);
    assert.deepEqual(body.draft_reasons, [
      { reason: 'model confidence below the threshold', count: 1 },
      { reason: 'retrieval score below the threshold', count: 1 },
    ]);

    // A reader an hour ahead of UTC (the emails of 23:xx UTC would move a day; none here) and every mailbox.
    const all = await get('?from=2026-11-02&to=2026-11-03&utc_offset=60');
    assert.equal((all.body.totals as Record<string, number>).emails, 11, 'the other mailbox counts when none is chosen');
    assert.equal((await get('?from=2026-11-04&to=2026-11-03')).status, 400);
    assert.equal((await get('?from=2026-1-4')).status, 400);
    assert.equal((await get('?from=2024-01-01&to=2026-11-03')).status, 400, 'more than a year at once');
    const week = await get('');
    assert.equal((week.body.days as unknown[]).length, 7, 'the last 7 days by default');
  });
});

test('knowledge gaps: handed-off and low-relevance questions grouped by shared terms with counts and examples, the pages cited most, and a CSV whose formulas are defused', async () => {
  await withPipeline(['api'], {}, async (pipeline) => {
    await fill(pipeline);
    const get = (query: string) => fetch(`${pipeline.apiUrl}/api/knowledge-gaps${query}`, { headers: { authorization: `Bearer ${pipeline.apiToken}` } });
    const period = `?agent_email=${encodeURIComponent(ACME)}&from=2026-11-02&to=2026-11-03`;
    const answer = await get(period);
    assert.equal(answer.status, 200);
    const gaps = (await answer.json()) as {
      questions: number;
      groups: Array<{ label: string; terms: string[]; count: number; examples: Array<{ email_id: string; why: string }> }>;
      cited_pages: Array<{ source: string; page: number; count: number }>;
    };
    // e4 and e5 (handed off), e2 (answered, but its best passage scored 0.2, below AUTO_SEND_MIN_SCORE 0.3).
    assert.equal(gaps.questions, 3);
    const [battery, ...rest] = gaps.groups;
    assert.deepEqual([battery.count, [...battery.terms].sort()], [2, ['battery', 'warranty']]);
    assert.deepEqual(
      battery.examples.map((example) => [example.email_id, example.why]),
      [
        ['e5', 'handed_off'],
        ['e4', 'handed_off'],
      ],
    );
    assert.deepEqual(
      rest.map((group) => [group.count, group.examples[0].email_id, group.examples[0].why]),
      [[1, 'e2', 'low_relevance']],
    );
    assert.deepEqual(
      gaps.cited_pages.map((page) => [page.source, page.page, page.count]),
      [
        ['x200.pdf', 3, 2],
        ['x200.pdf', 5, 1],
      ],
    );

    const csv = await get(`${period}&format=csv`);
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-type') ?? '', /^text\/csv/);
    assert.match(csv.headers.get('content-disposition') ?? '', /^attachment; filename="knowledge-gaps-support@acme.example-2026-11-02-2026-11-03.csv"$/);
    const lines = (await csv.text()).split('\r\n');
    assert.equal(lines[0], 'group,group_count,email_id,subject,why,state,top_score');
    assert.deepEqual(lines.slice(1, 4), [
      "battery · warranty,2,e5,'=Warranty for a battery,handed_off,handed_off,",
      'battery · warranty,2,e4,Battery warranty claim,handed_off,handed_off,',
      'router · firmware,1,e2,Router firmware,low_relevance,sent,0.2',
    ]);
    assert.ok(lines.includes('x200.pdf,,3,2'), 'the cited pages follow');
    assert.ok(!lines.some((line) => /,=/.test(line)), 'no field starts a formula');
  });
});

test("categories: the classifier's categories, then any other recorded in the activity log, for the Category filter", async () => {
  await withPipeline(['api'], {}, async (pipeline) => {
    await fill(pipeline);
    await story(pipeline, 'old', 'Old', 'x', [
      ['classified', at(3, 9), { is_support_inquiry: true, category: 'legacy-orders', confidence: 0.9, reasoning: 'r' }],
    ]);
    const response = await fetch(`${pipeline.apiUrl}/api/categories`, { headers: { authorization: `Bearer ${pipeline.apiToken}` } });
    assert.equal(response.status, 200);
    assert.deepEqual(((await response.json()) as { categories: string[] }).categories, [
      'technical',
      'billing',
      'account',
      'general',
      'spam',
      'marketing',
      'automated',
      'other',
      'legacy-orders',
    ]);
  });
});
