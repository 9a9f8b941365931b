/**
 * Evaluations the dashboard starts: `npm run eval`'s operator mode (`eval --mailbox ADDR
 * questions.jsonl --json report.json`) as a background job in a child process, one at a time per
 * api process. A run takes minutes with a remote model, far longer than a request, and a child keeps
 * the evaluation's providers, temporary data folder and memory out of the api's process.
 *
 * Each evaluation is a folder `<DATA_DIR>/evaluations/<id>/`: the uploaded `questions.jsonl`, the
 * record `evaluation.json` (status, times, progress, figures), the CLI's printed report `output.txt`
 * and its JSON report `report.json`. The records are the list, so it survives a restart; a record
 * still `running` from an earlier process is marked failed when the next one starts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from '../../lib/log.js';

/** The program that runs `npm run eval` (src/app/evaluation-command.ts), and its environment. */
export interface EvaluationCommand {
  command: string;
  /** Up to and including the `eval` command; the run's own flags follow. */
  args: string[];
  env: Record<string, string | undefined>;
}

export type EvaluationStatus = 'running' | 'done' | 'failed';

/** A count out of a total, as the report gives it (`rate` null when there is nothing to count). */
export interface Ratio {
  count: number;
  of: number;
  rate: number | null;
}

/** The figures of a finished run, from its report's `questions`. */
export interface EvaluationFigures {
  questions: number;
  answerable: number;
  recall_at_1: Ratio;
  recall_at_3: Ratio;
  recall_at_5: Ratio;
  auto_sent: Ratio;
  auto_precision: Ratio;
  unanswerable_sent: Ratio;
  decisions: Record<string, number>;
}

/** What the list shows of one evaluation (`evaluation.json`). */
export interface EvaluationRecord {
  id: string;
  agent_email: string;
  /** The uploaded file's name, as the operator chose it. */
  filename: string;
  questions: number;
  status: EvaluationStatus;
  /** Who started it (the API token's name). */
  by: string;
  started_at: string;
  finished_at: string | null;
  /** Questions run so far, from the CLI's `progress N/M` lines. */
  done: number;
  exit_code: number | null;
  /** Why a failed run failed (the end of the CLI's error output), or a warning of a finished one. */
  error: string | null;
  figures: EvaluationFigures | null;
}

/** An id is a folder name: only these characters, so no request can name a path. */
export const EVALUATION_ID = /^[0-9a-z-]{8,64}$/;

/** How long a stopping api waits for its child after SIGTERM before SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** The end of the child's stderr kept for a failure's reason. */
const ERROR_TAIL_CHARS = 2_000;

export class EvaluationBusyError extends Error {
  constructor(readonly running: EvaluationRecord) {
    super(
      `an evaluation is running (${running.filename} for ${running.agent_email}, ${running.done} of ${running.questions} questions done): one at a time; wait for it to finish`,
    );
  }
}

export class EvaluationJobs {
  private readonly folder: string;
  /** The run of this process; its child is missing only while its files are being written. */
  private current: { record: EvaluationRecord; child?: ChildProcess; exited?: Promise<void> } | undefined;
  private stopping = false;

  constructor(
    dataDir: string,
    private readonly command: EvaluationCommand,
    private readonly logger: Logger,
  ) {
    this.folder = path.join(path.resolve(dataDir), 'evaluations');
  }

  /** Marks what an earlier process left `running` as failed: its child is gone with it. */
  async recover(): Promise<void> {
    for (const record of await this.list()) {
      if (record.status !== 'running' || record.id === this.current?.record.id) continue;
      await this.save({ ...record, status: 'failed', finished_at: record.finished_at ?? new Date().toISOString(), error: 'the api role stopped while it ran' });
    }
  }

  /** The evaluation running now, if any. */
  running(): EvaluationRecord | undefined {
    return this.current?.record;
  }

  /** Every evaluation, newest first. */
  async list(): Promise<EvaluationRecord[]> {
    const names = await readdir(this.folder).catch(() => [] as string[]);
    const records = await Promise.all(names.filter((name) => EVALUATION_ID.test(name)).map((name) => this.get(name)));
    return records.filter((record) => record !== undefined).sort((a, b) => b.started_at.localeCompare(a.started_at) || b.id.localeCompare(a.id));
  }

  async get(id: string): Promise<EvaluationRecord | undefined> {
    if (!EVALUATION_ID.test(id)) return undefined;
    if (this.current?.record.id === id) return { ...this.current.record };
    const text = await readFile(this.fileOf(id, 'evaluation.json'), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : (JSON.parse(text) as EvaluationRecord);
  }

  /** The run's JSON report (src/eval/cli.ts), once it wrote one. */
  async report(id: string): Promise<Record<string, unknown> | undefined> {
    if (!EVALUATION_ID.test(id)) return undefined;
    const text = await readFile(this.fileOf(id, 'report.json'), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : (JSON.parse(text) as Record<string, unknown>);
  }

  /**
   * Stores the questions (already checked) and starts the run; throws {@link EvaluationBusyError}
   * while another runs. Resolves once the child is spawned, not when it ends.
   */
  async start(input: { agentEmail: string; filename: string; questionsText: string; questions: number; by: string }): Promise<EvaluationRecord> {
    if (this.current) throw new EvaluationBusyError(this.current.record);
    if (this.stopping) throw new Error('the api role is shutting down');
    const now = new Date();
    const id = `${now.toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').toLowerCase()}-${randomBytes(4).toString('hex')}`;
    const record: EvaluationRecord = {
      id,
      agent_email: input.agentEmail,
      filename: input.filename,
      questions: input.questions,
      status: 'running',
      by: input.by,
      started_at: now.toISOString(),
      finished_at: null,
      done: 0,
      exit_code: null,
      error: null,
      figures: null,
    };
    // Taken before the first await, so a second request arriving meanwhile gets the 409.
    this.current = { record };
    try {
      await mkdir(this.fileOf(id, ''), { recursive: true });
      await writeFile(this.fileOf(id, 'questions.jsonl'), input.questionsText);
      await this.save(record);
      // The api began to stop while the files were written: no child may start after its stop.
      if (this.stopping) throw new Error('the api role is shutting down');
      this.current = { record, ...this.spawnChild(record) };
    } catch (error) {
      this.current = undefined;
      throw error;
    }
    this.logger.info('evaluation started', { evaluation_id: id, agent_email: record.agent_email, questions: record.questions, by: record.by });
    return { ...record };
  }

  /** Ends a running child (SIGTERM, then SIGKILL after a grace time) and takes no new run. */
  async stop(): Promise<void> {
    this.stopping = true;
    const { child, exited, record } = this.current ?? {};
    if (!child || !exited || !record) return;
    record.error = 'stopped: the api role shut down';
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }

  private spawnChild(record: EvaluationRecord): { child: ChildProcess; exited: Promise<void> } {
    const report = this.fileOf(record.id, 'report.json');
    const args = [...this.command.args, '--mailbox', record.agent_email, this.fileOf(record.id, 'questions.jsonl'), '--json', report, '--progress'];
    const child = spawn(this.command.command, args, { env: this.command.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const output = createWriteStream(this.fileOf(record.id, 'output.txt'));
    child.stdout.pipe(output);
    let errorText = '';
    let partial = '';
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const progress = /^progress (\d+)\/(\d+)$/.exec(line.trim());
        if (progress) record.done = Number(progress[1]);
        else if (line.trim()) errorText = `${errorText}${line}\n`.slice(-ERROR_TAIL_CHARS);
      }
    });
    const exited = new Promise<void>((resolve) => {
      let ended = false;
      const end = (code: number | null, signal: NodeJS.Signals | null) => {
        if (ended) return;
        ended = true;
        output.end();
        this.finish(record, code, signal, errorText.trim()).finally(resolve);
      };
      child.once('error', (error) => {
        errorText += `cannot start the evaluation: ${error.message}\n`;
        // A child that never started has no 'close' to wait for.
        if (child.pid === undefined) end(null, null);
      });
      child.once('close', end);
    });
    return { child, exited };
  }

  private async finish(record: EvaluationRecord, code: number | null, signal: NodeJS.Signals | null, errorText: string): Promise<void> {
    const report = await this.report(record.id).catch(() => undefined);
    // Exit 1 means a limit was missed or a question failed with an error: the report is complete all the same.
    const completed = report !== undefined && (code === 0 || code === 1);
    const questions = report?.questions as (EvaluationFigures & Record<string, unknown>) | undefined;
    const finished: EvaluationRecord = {
      ...record,
      status: completed ? 'done' : 'failed',
      finished_at: new Date().toISOString(),
      exit_code: code,
      error: completed
        ? null
        : (record.error ?? (errorText || (signal ? `the evaluation was ended by ${signal}` : `the evaluation exited with code ${code} and wrote no report`))),
      figures: questions
        ? {
            questions: questions.questions,
            answerable: questions.answerable,
            recall_at_1: questions.recall_at_1,
            recall_at_3: questions.recall_at_3,
            recall_at_5: questions.recall_at_5,
            auto_sent: questions.auto_sent,
            auto_precision: questions.auto_precision,
            unanswerable_sent: questions.unanswerable_sent,
            decisions: questions.decisions,
          }
        : null,
    };
    if (completed && finished.figures && finished.figures.questions > 0) finished.done = finished.figures.questions;
    try {
      await this.save(finished);
    } catch (error) {
      this.logger.error('cannot record the end of an evaluation', { evaluation_id: record.id, error: (error as Error).message });
    }
    this.current = undefined;
    const fields = { evaluation_id: record.id, status: finished.status, exit_code: code, signal: signal ?? undefined };
    if (completed) this.logger.info('evaluation finished', fields);
    else this.logger.warn('evaluation failed', { ...fields, error: finished.error });
  }

  /** Writes a record whole (a temporary file renamed), so a reader never sees half of one. */
  private async save(record: EvaluationRecord): Promise<void> {
    const file = this.fileOf(record.id, 'evaluation.json');
    await writeFile(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
    await rename(`${file}.tmp`, file);
  }

  private fileOf(id: string, name: string): string {
    return path.join(this.folder, id, name);
  }
}
