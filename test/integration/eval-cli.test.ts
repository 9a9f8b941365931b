/**
 * `npm run eval` end to end, as an operator and CI run it: the CLI in its own process, its exit
 * code, its JSON report, and that the operator's data is left as it was (nothing sent, no Maildir,
 * no activity database in the mailbox's DATA_DIR).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/lib/log.js';
import { openHarness } from '../../src/eval/harness.js';
import { MANUAL, QUESTIONS } from '../helpers/evaluations.js';

const MAILBOX = 'support@acme.example';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI as `npm run eval -- …` runs it, in a child process with the given environment. */
function evalCli(args: string[], env: Record<string, string>): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'scripts/eval.ts', ...args],
      { env: { ...process.env, LLM_PROVIDERS: 'local', REDIS_URL: '', ...env }, timeout: 120_000 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

const jsonl = (items: object[]) => items.map((item) => JSON.stringify(item)).join('\n');

/** A mailbox whose manual is already ingested, as an operator's would be, in its own DATA_DIR. */
async function ingestedMailbox(): Promise<string> {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'eval-cli-mailbox-'));
  const harness = await openHarness({
    agentEmail: MAILBOX,
    env: { ...process.env, DATA_DIR: dataDir, VECTOR_STORE: 'sqlite', REDIS_URL: '' },
    freshStore: false,
    logger: createLogger({ level: 'error', format: 'json', role: 'test' }),
  });
  try {
    await harness.ingest(path.join('samples', 'manuals', MAILBOX, MANUAL), MANUAL);
  } finally {
    await harness.close();
  }
  return dataDir;
}

test(
  "operator mode: figures and decisions for an ingested mailbox, a JSON report, exit 1 below a limit, and the mailbox's data untouched",
  { timeout: 120_000 },
  async () => {
    const dataDir = await ingestedMailbox();
    const work = await mkdtemp(path.join(tmpdir(), 'eval-cli-'));
    try {
      const before = (await readdir(dataDir)).sort();
      const questions = path.join(work, 'questions.jsonl');
      await writeFile(questions, jsonl(QUESTIONS));
      const report = path.join(work, 'report.json');

      const passing = await evalCli(['--mailbox', MAILBOX, questions, '--json', report, '--min-recall-at-5', '0.5', '--max-unanswerable-sent', '0'], {
        DATA_DIR: dataDir,
      });
      assert.equal(passing.code, 0, passing.stderr + passing.stdout);
      assert.match(passing.stdout, /recall@3\s+\d\/2/);
      const json = JSON.parse(await readFile(report, 'utf8'));
      assert.equal(json.mode, 'mailbox');
      assert.equal(json.passed, true);
      assert.deepEqual(
        json.per_question.map((q: { id: string }) => q.id),
        ['reset', 'impossible', 'refund'],
      );
      const reset = json.per_question[0];
      assert.equal(reset.hit_rank, 1, 'the reset page is found first');
      assert.ok(reset.retrieved.every((ref: { manual: string }) => ref.manual === MANUAL));
      for (const q of json.per_question) assert.ok(['sent', 'drafted', 'handed_off', 'ignored'].includes(q.decision), `${q.id}: ${q.decision} ${q.reason}`);
      assert.equal(json.per_question[1].hit_rank, null);
      assert.deepEqual(
        json.thresholds.map((t: { flag: string; passed: boolean }) => [t.flag, t.passed]),
        [
          ['min-recall-at-5', true],
          ['max-unanswerable-sent', true],
        ],
      );

      const failing = await evalCli(['--mailbox', MAILBOX, questions, '--json', report, '--min-recall-at-1', '1'], { DATA_DIR: dataDir });
      assert.equal(failing.code, 1, failing.stderr + failing.stdout);
      assert.match(failing.stdout, /FAIL {2}--min-recall-at-1 1: 0\.500/);
      assert.equal(JSON.parse(await readFile(report, 'utf8')).passed, false);

      // Nothing was sent or drafted into the operator's mailbox, and no database appeared beside the store.
      assert.deepEqual(
        (await readdir(dataDir)).filter((name) => !name.startsWith('vectors.db')).sort(),
        before.filter((name) => !name.startsWith('vectors.db')),
      );
      assert.equal(existsSync(path.join(dataDir, 'maildir')), false);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
      await rm(work, { recursive: true, force: true });
    }
  },
);

test('bad usage exits 2 with a message that says what is wrong', { timeout: 60_000 }, async () => {
  const work = await mkdtemp(path.join(tmpdir(), 'eval-cli-'));
  try {
    const questions = path.join(work, 'questions.jsonl');
    await writeFile(questions, jsonl([{ id: 'x', from: 'a@example.org', subject: 's', body: 'b', manual: 'm.pdf', answer_pages: [] }]));
    const noMailbox = await evalCli([questions], {});
    assert.equal(noMailbox.code, 2);
    assert.match(noMailbox.stderr, /needs --mailbox/);
    const badLimit = await evalCli(['--mailbox', MAILBOX, questions, '--min-recall-at-3', 'lots'], {});
    assert.equal(badLimit.code, 2);
    assert.match(badLimit.stderr, /--min-recall-at-3 lots: expected a share between 0 and 1/);
    const badLine = await evalCli(['--mailbox', MAILBOX, questions], {});
    assert.equal(badLine.code, 2);
    assert.match(badLine.stderr, /questions\.jsonl:1: .*answer_pages/);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

const hasApt = (() => {
  try {
    execFileSync('apt-get', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test(
  'dev mode on a slice of the dev set: the R FAQ fetched from Debian, ingested and asked, limits as assertions',
  { timeout: 120_000, skip: hasApt ? false : 'needs apt-get and dpkg (Debian)' },
  async () => {
    const work = await mkdtemp(path.join(tmpdir(), 'eval-cli-'));
    try {
      const report = path.join(work, 'report.json');
      const run = await evalCli(
        ['--dev', '--manual', 'R-FAQ.pdf', '--slice', '3', '--json', report, '--min-recall-at-5', '0.3', '--max-unanswerable-sent', '0'],
        {},
      );
      assert.equal(run.code, 0, run.stderr + run.stdout);
      assert.match(run.stdout, /ingested R-FAQ\.pdf \(r-doc-pdf\)/);
      const json = JSON.parse(await readFile(report, 'utf8'));
      assert.equal(json.mode, 'dev');
      assert.equal(json.questions.answerable, 3);
      assert.equal(json.questions.unanswerable, 3);
      assert.equal(json.classifier.emails, 6);
      assert.ok(json.per_question.filter((q: { answerable: boolean }) => q.answerable).every((q: { manual: string }) => q.manual === 'R-FAQ.pdf'));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  },
);
