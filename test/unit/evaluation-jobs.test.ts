/**
 * The api's evaluation jobs (src/http/api/evaluation-jobs.ts) with small stand-in programs for
 * `npm run eval`: a run's record follows its child (progress lines, a report, an exit code), a
 * child that fails or cannot start leaves a failed record saying why, one run at a time, and a
 * record left `running` by an earlier process is failed on recovery.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/lib/log.js';
import { EvaluationBusyError, EvaluationJobs, type EvaluationCommand, type EvaluationRecord } from '../../src/http/api/evaluation-jobs.js';

const logger = createLogger({ level: 'error', format: 'json', role: 'test' });
const input = { agentEmail: 'support@acme.example', filename: 'q.jsonl', questionsText: '{}\n', questions: 2, by: 'tester' };

/** `node -e <script> --`: the job's own flags (--mailbox …, --json FILE, --progress) follow in process.argv. */
const nodeScript = (script: string): EvaluationCommand => ({ command: process.execPath, args: ['-e', script, '--'], env: {} });

async function withJobs(command: EvaluationCommand, body: (jobs: EvaluationJobs, dataDir: string) => Promise<void>): Promise<void> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'evaluation-jobs-'));
  try {
    await body(new EvaluationJobs(dataDir, command, logger), dataDir);
  } finally {
    await rm(dataDir, { recursive: true, force: true });
  }
}

async function ended(jobs: EvaluationJobs, id: string): Promise<EvaluationRecord> {
  for (let waited = 0; waited < 10_000; waited += 20) {
    const record = await jobs.get(id);
    if (record && record.status !== 'running') return record;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`evaluation ${id} still running`);
}

const ratio = (count: number, of: number) => ({ count, of, rate: of ? count / of : null });
const REPORT = {
  mode: 'mailbox',
  questions: {
    questions: 2,
    answerable: 1,
    recall_at_1: ratio(1, 1),
    recall_at_3: ratio(1, 1),
    recall_at_5: ratio(1, 1),
    auto_sent: ratio(0, 1),
    auto_precision: ratio(0, 0),
    unanswerable_sent: ratio(0, 1),
    decisions: { sent: 0, drafted: 1, handed_off: 1, ignored: 0, error: 0 },
  },
  per_question: [],
};

test('a run whose child reports progress and writes its report ends done, with the figures, the flags it was given, and exit code 1 (a limit missed) still done', async () => {
  const script = `
    const args = process.argv.slice(1);
    const report = args[args.indexOf('--json') + 1];
    console.error('progress 1/2');
    console.error('progress 2/2');
    require('node:fs').writeFileSync(report, JSON.stringify({ ...${JSON.stringify(REPORT)}, args }));
    process.exit(1);`;
  await withJobs(nodeScript(script), async (jobs) => {
    const started = await jobs.start(input);
    assert.equal(started.status, 'running');
    await assert.rejects(jobs.start(input), EvaluationBusyError);
    const record = await ended(jobs, started.id);
    assert.equal(record.status, 'done');
    assert.equal(record.exit_code, 1);
    assert.equal(record.done, 2);
    assert.equal(record.error, null);
    assert.deepEqual(record.figures?.recall_at_3, ratio(1, 1));
    assert.deepEqual(record.figures?.decisions, REPORT.questions.decisions);
    const report = (await jobs.report(started.id)) as { args: string[] };
    assert.deepEqual(report.args.slice(0, 2), ['--mailbox', 'support@acme.example']);
    assert.match(report.args[2], /questions\.jsonl$/);
    assert.equal(await readFile(report.args[2], 'utf8'), '{}\n');
    assert.ok(report.args.includes('--progress'));
    assert.equal(jobs.running(), undefined);
    // The next run may start.
    const next = await jobs.start(input);
    assert.equal(next.status, 'running');
    await ended(jobs, next.id);
  });
});

test('a child that exits without a report fails with the end of its error output', async () => {
  await withJobs(nodeScript(`console.error('npm run eval: cannot open the vector store'); process.exit(2);`), async (jobs) => {
    const record = await ended(jobs, (await jobs.start(input)).id);
    assert.equal(record.status, 'failed');
    assert.equal(record.exit_code, 2);
    assert.equal(record.error, 'npm run eval: cannot open the vector store');
    assert.equal(record.figures, null);
  });
});

test('a program that cannot be started fails the run with the reason, and frees the slot', async () => {
  await withJobs({ command: '/nonexistent/node', args: [], env: {} }, async (jobs) => {
    const record = await ended(jobs, (await jobs.start(input)).id);
    assert.equal(record.status, 'failed');
    assert.match(record.error ?? '', /^cannot start the evaluation: spawn \/nonexistent\/node ENOENT/);
    assert.equal(jobs.running(), undefined);
  });
});

test('a record an earlier process left running is failed on recovery; a folder name that is not an id is ignored', async () => {
  await withJobs(nodeScript(''), async (jobs, dataDir) => {
    const id = '20261203t080000-0123abcd';
    await mkdir(path.join(dataDir, 'evaluations', id), { recursive: true });
    await mkdir(path.join(dataDir, 'evaluations', 'Not An Id'), { recursive: true });
    const left = { ...input, id, agent_email: input.agentEmail, status: 'running', started_at: '2026-12-03T08:00:00.000Z', finished_at: null, done: 1 };
    await writeFile(path.join(dataDir, 'evaluations', id, 'evaluation.json'), JSON.stringify(left));
    await jobs.recover();
    const [record] = await jobs.list();
    assert.equal(record.id, id);
    assert.equal(record.status, 'failed');
    assert.equal(record.error, 'the api role stopped while it ran');
    assert.equal((await jobs.list()).length, 1);
    assert.equal(await jobs.get('../../etc'), undefined);
  });
});
