/**
 * Test questions through the API (`/api/evaluations`) on a pipeline whose ingester took the sample
 * manual: an uploaded JSONL file starts `npm run eval`'s operator mode in a child process and its
 * report becomes readable; a bad file is a 400 naming its line; a second start while one runs is a
 * 409; nothing is sent; and the child ends with the api.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { waitFor } from '../helpers/broker.js';
import { ingestSampleManual, jsonl, MANUAL, QUESTIONS } from '../helpers/evaluations.js';
import { ACME, startPipeline, withPipeline, type Pipeline } from '../helpers/pipeline.js';
import type { EvaluationRecord } from '../../src/http/api/evaluation-jobs.js';

interface Answer<T> {
  status: number;
  body: T;
}

async function call<T = Record<string, unknown>>(pipeline: Pipeline, method: string, route: string, body?: FormData | object): Promise<Answer<T>> {
  const headers: Record<string, string> = { authorization: `Bearer ${pipeline.apiToken}` };
  if (body !== undefined && !(body instanceof FormData)) headers['content-type'] = 'application/json';
  const response = await fetch(`${pipeline.apiUrl}${route}`, {
    method,
    headers,
    body: body === undefined ? undefined : body instanceof FormData ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as T };
}

function questionsForm(agentEmail: string, text: string, filename = 'questions.jsonl'): FormData {
  const form = new FormData();
  form.append('agent_email', agentEmail);
  form.append('file', new Blob([text], { type: 'application/jsonl' }), filename);
  return form;
}

type Started = { evaluation: EvaluationRecord; code?: string; error?: string };
/** What the test reads of `npm run eval`'s JSON report (src/eval/cli.ts). */
interface Report {
  mode: string;
  mailbox: string;
  questions_file: string;
  per_question: Array<{ id: string; hit_rank: number | null; retrieved: Array<{ manual: string }>; decision: string; reason: string }>;
  questions: { auto_precision: { of: number } };
}
type Shown = { evaluation: EvaluationRecord; report: Report | null };

async function finished(pipeline: Pipeline, id: string): Promise<Shown> {
  const shown = await waitFor(
    async () => {
      const answer = await call<Shown>(pipeline, 'GET', `/api/evaluations/${id}`);
      return answer.body.evaluation.status === 'running' ? undefined : answer.body;
    },
    { timeoutMs: 120_000, intervalMs: 300, what: `evaluation ${id} to finish` },
  );
  return shown!;
}

/** The processes whose command line names `text` (here: an evaluation's folder). */
async function processesNaming(text: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const commandLine = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (commandLine.includes(text)) pids.push(Number(name));
  }
  return pids;
}

test(
  'an uploaded JSONL file runs npm run eval for the mailbox in a child process: running, then done with figures and a readable report; a second start meanwhile is 409; nothing is sent',
  { timeout: 240_000 },
  async () => {
    await withPipeline(['ingester', 'recorder', 'api'], {}, async (pipeline) => {
      await ingestSampleManual(pipeline);

      const started = await call<Started>(pipeline, 'POST', '/api/evaluations', questionsForm(ACME, jsonl(QUESTIONS), 'router.jsonl'));
      assert.equal(started.status, 202, JSON.stringify(started.body));
      const { id } = started.body.evaluation;
      assert.equal(started.body.evaluation.status, 'running');
      assert.equal(started.body.evaluation.agent_email, ACME);
      assert.equal(started.body.evaluation.questions, 3);
      assert.equal(started.body.evaluation.by, 'tester');

      // One at a time: the second start is refused, whatever it carries, and starts nothing.
      const second = await call<Started>(pipeline, 'POST', '/api/evaluations', { agent_email: ACME, questions: jsonl(QUESTIONS) });
      assert.equal(second.status, 409, JSON.stringify(second.body));
      assert.equal(second.body.code, 'evaluation_running');
      assert.match(second.body.error ?? '', /^an evaluation is running \(router\.jsonl for support@acme\.example, \d of 3 questions done\)/);

      const { evaluation, report } = await finished(pipeline, id);
      assert.equal(evaluation.status, 'done', evaluation.error ?? '');
      assert.equal(evaluation.exit_code, 0);
      assert.equal(evaluation.done, 3);
      assert.ok(evaluation.finished_at && evaluation.finished_at >= evaluation.started_at);
      assert.deepEqual(evaluation.figures?.recall_at_5, { count: 1, of: 2, rate: 0.5 });
      assert.equal(evaluation.figures?.unanswerable_sent.count, 0);

      assert.ok(report);
      assert.equal(report.mode, 'mailbox');
      assert.equal(report.mailbox, ACME);
      assert.equal(report.questions_file, 'router.jsonl', 'the name uploaded, not a path of the data folder');
      assert.deepEqual(
        report.per_question.map((row) => row.id),
        ['reset', 'impossible', 'refund'],
      );
      const [reset, impossible] = report.per_question;
      assert.equal(reset.hit_rank, 1, 'the reset page is found first');
      assert.ok(reset.retrieved.every((ref) => ref.manual === MANUAL));
      assert.equal(impossible.hit_rank, null);
      for (const row of report.per_question)
        assert.ok(['sent', 'drafted', 'handed_off', 'ignored'].includes(row.decision), `${row.id}: ${row.decision} ${row.reason}`);
      assert.equal(typeof report.questions.auto_precision.of, 'number');

      const list = await call<{ evaluations: EvaluationRecord[]; running: string | null }>(pipeline, 'GET', '/api/evaluations');
      assert.equal(list.body.running, null);
      assert.deepEqual(
        list.body.evaluations.map((entry) => [entry.id, entry.status]),
        [[id, 'done']],
      );
      assert.equal((await call(pipeline, 'GET', '/api/evaluations/20000101t000000-deadbeef')).status, 404);
      assert.equal((await call(pipeline, 'GET', `/api/evaluations/${encodeURIComponent('../api-token')}`)).status, 404);

      // The harness writes to a temporary Maildir: the mailbox's own has no reply, sent or drafted.
      const mailbox = path.join(pipeline.vhost.config.MAILDIR_ROOT, ACME);
      for (const folder of ['outbox', 'drafts']) {
        assert.deepEqual(await readdir(path.join(mailbox, folder)).catch(() => []), [], `${folder} of ${ACME}`);
      }
      assert.equal(await pipeline.activity.countEmails(), 0, 'no email entered the activity log');
    });
  },
);

test(
  'a bad questions file is a 400 naming its line (as npm run eval names it), a bad mailbox or no file a 400, and none starts a run',
  { timeout: 120_000 },
  async () => {
    await withPipeline(['api'], {}, async (pipeline) => {
      const [good, ...rest] = QUESTIONS;
      const cases: Array<[string, FormData | object, RegExp]> = [
        [
          'an answerable question without answer_pages',
          questionsForm(ACME, jsonl([good, { ...rest[0], answer_pages: [] }])),
          /^questions\.jsonl:2: .*answer_pages/,
        ],
        ['a line that is not JSON', questionsForm(ACME, `${JSON.stringify(good)}\n{"id": "half`, 'mine.jsonl'), /^mine\.jsonl:2: not JSON/],
        ['an id used twice', { agent_email: ACME, questions: jsonl([good, good]), filename: 'twice.jsonl' }, /^twice\.jsonl:2: id reset is used twice/],
        ['an empty file', questionsForm(ACME, '\n\n'), /^questions\.jsonl holds no lines/],
      ];
      for (const [what, body, message] of cases) {
        const answer = await call<{ code: string; error: string }>(pipeline, 'POST', '/api/evaluations', body);
        assert.equal(answer.status, 400, `${what}: ${JSON.stringify(answer.body)}`);
        assert.equal(answer.body.code, 'invalid_questions', what);
        assert.match(answer.body.error, message, what);
      }
      const badMailbox = await call<{ code: string; error: string }>(pipeline, 'POST', '/api/evaluations', questionsForm('not an address', jsonl(QUESTIONS)));
      assert.equal(badMailbox.status, 400);
      assert.match(badMailbox.body.error, /^agent_email: /);
      const noFile = new FormData();
      noFile.append('agent_email', ACME);
      assert.equal((await call<{ code: string }>(pipeline, 'POST', '/api/evaluations', noFile)).body.code, 'questions_missing');
      assert.deepEqual((await call<{ evaluations: unknown[] }>(pipeline, 'GET', '/api/evaluations')).body.evaluations, []);
    });
  },
);

test('the child ends with the api: stopping the api role mid-run kills it and records the run as failed', { timeout: 180_000 }, async () => {
  const pipeline = await startPipeline(['api']);
  try {
    // Enough questions to still be running when the api stops (no manual: each is quick, but not 400 of them).
    const many = Array.from({ length: 400 }, (_, index) => ({ ...QUESTIONS[2], id: `q${index}` }));
    const started = await call<Started>(pipeline, 'POST', '/api/evaluations', questionsForm(ACME, jsonl(many)));
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const { id } = started.body.evaluation;
    // Progress is reported while it runs.
    await waitFor(
      async () => {
        const { evaluation } = (await call<Shown>(pipeline, 'GET', `/api/evaluations/${id}`)).body;
        assert.equal(evaluation.status, 'running', 'still running');
        return evaluation.done > 0;
      },
      { timeoutMs: 60_000, intervalMs: 100, what: 'the first questions done' },
    );
    assert.ok((await processesNaming(id)).length > 0, 'the child runs');

    await pipeline.worker.stop();
    assert.deepEqual(await processesNaming(id), [], 'no child outlives the api');
    const record = JSON.parse(await readFile(path.join(pipeline.vhost.dataDir, 'evaluations', id, 'evaluation.json'), 'utf8')) as EvaluationRecord;
    assert.equal(record.status, 'failed');
    assert.equal(record.error, 'stopped: the api role shut down');
    assert.ok(record.done > 0 && record.done < 400, `done ${record.done}`);
    assert.equal(existsSync(path.join(pipeline.vhost.dataDir, 'evaluations', id, 'report.json')), false);
  } finally {
    await pipeline.close();
  }
});
