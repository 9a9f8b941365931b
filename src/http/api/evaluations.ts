/**
 * Test questions from the dashboard: `POST /api/evaluations` starts `npm run eval`'s operator mode
 * for a mailbox with an uploaded JSON Lines file (evaluation-jobs.ts runs it in a child process),
 * `GET /api/evaluations` lists the runs, `GET /api/evaluations/:id` gives one with its JSON report.
 *
 * The questions are checked here with the evaluation's own schema before anything starts, so a
 * mistake is a 400 naming the file and line, as the CLI names them. Body: multipart/form-data
 * (`agent_email`, then the file as `file`) or JSON `{agent_email, questions, filename?}` with the
 * file's text in `questions`.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Multipart } from '@fastify/multipart';
import { z } from 'zod';
import { DatasetError, parseJsonl, questionSchema } from '../../features/eval-dataset.js';
import { mailboxAddressSchema } from '../../features/document-check.js';
import { parseInput } from './context.js';
import { ApiError } from './errors.js';
import { EvaluationBusyError, EvaluationJobs, type EvaluationCommand } from './evaluation-jobs.js';
import type { Logger } from '../../lib/log.js';

/**
 * The largest questions file taken: thousands of questions, each a model call or more. It is read
 * into memory to be checked, so it is kept far below API_MAX_UPLOAD_BYTES.
 */
export const MAX_QUESTIONS_BYTES = 2 * 1024 * 1024;

const jsonBody = z.object({
  agent_email: mailboxAddressSchema,
  questions: z.string().min(1, 'the questions file is empty'),
  filename: z.string().trim().min(1).max(200).optional(),
});
const evaluationParams = z.object({ id: z.string().min(1) });

/** What the routes need: where evaluations are kept and how to start `npm run eval`. */
export interface EvaluationRouteOptions {
  dataDir: string;
  command: EvaluationCommand;
  logger: Logger;
}

function tooLarge(filename: string): ApiError {
  return new ApiError(413, 'questions_too_large', `${filename} is larger than ${MAX_QUESTIONS_BYTES} bytes; split the questions into smaller files`);
}

/** The file part's text, refused past MAX_QUESTIONS_BYTES while it streams. */
async function readQuestionsPart(part: Extract<Multipart, { type: 'file' }>): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of part.file as AsyncIterable<Buffer>) {
    bytes += chunk.byteLength;
    if (bytes > MAX_QUESTIONS_BYTES) throw tooLarge(part.filename || 'the file');
    chunks.push(chunk);
  }
  if (part.file.truncated) throw tooLarge(part.filename || 'the file');
  return Buffer.concat(chunks).toString('utf8');
}

/** The mailbox, the file's name and text, from a multipart or a JSON request. */
async function readRequest(request: FastifyRequest): Promise<{ agentEmail: string; filename: string; text: string }> {
  if (!request.isMultipart()) {
    const body = parseInput(jsonBody, request.body);
    if (Buffer.byteLength(body.questions) > MAX_QUESTIONS_BYTES) throw tooLarge(body.filename ?? 'questions.jsonl');
    return { agentEmail: body.agent_email, filename: body.filename ?? 'questions.jsonl', text: body.questions };
  }
  let agentEmail: string | undefined;
  let file: { filename: string; text: string } | undefined;
  for await (const part of request.parts()) {
    if (part.type === 'field') {
      if (part.fieldname === 'agent_email') agentEmail = parseInput(jsonBody.pick({ agent_email: true }), { agent_email: part.value }).agent_email;
      continue;
    }
    if (part.fieldname !== 'file') throw new ApiError(400, 'invalid_request', `unexpected file field ${part.fieldname}; send the questions as "file"`);
    if (file) throw new ApiError(400, 'invalid_request', 'one questions file at a time');
    file = { filename: part.filename || 'questions.jsonl', text: await readQuestionsPart(part) };
  }
  if (agentEmail === undefined) throw new ApiError(400, 'invalid_request', 'agent_email: the mailbox address is required');
  if (!file) throw new ApiError(400, 'questions_missing', 'no file: send the questions (JSON Lines) as "file"');
  return { agentEmail, ...file };
}

/** The rest of a refused multipart body is read into nothing, so the client gets the answer on a usable connection. */
function discardRest(request: IncomingMessage): void {
  if (!request.complete) request.resume();
}

export function evaluationRoutes({ dataDir, command, logger }: EvaluationRouteOptions) {
  const jobs = new EvaluationJobs(dataDir, command, logger);

  return async (app: FastifyInstance): Promise<void> => {
    await jobs.recover();
    // The child is the api's: it ends with it, never left running alone.
    app.addHook('onClose', async () => jobs.stop());

    app.post('/evaluations', async (request, reply) => {
      try {
        const busy = jobs.running();
        // Before reading the file: a second start is refused whatever it carries.
        if (busy) throw new EvaluationBusyError(busy);
        const { agentEmail, filename, text } = await readRequest(request);
        let questions;
        try {
          questions = parseJsonl(text, questionSchema, filename);
        } catch (error) {
          if (error instanceof DatasetError) throw new ApiError(400, 'invalid_questions', error.message);
          throw error;
        }
        const evaluation = await jobs.start({ agentEmail, filename, questionsText: text, questions: questions.length, by: request.operator });
        return await reply.status(202).send({ evaluation });
      } catch (error) {
        if (error instanceof EvaluationBusyError) throw new ApiError(409, 'evaluation_running', error.message);
        throw error;
      } finally {
        discardRest(request.raw);
      }
    });

    app.get('/evaluations', async () => ({ evaluations: await jobs.list(), running: jobs.running()?.id ?? null }));

    app.get('/evaluations/:id', async (request) => {
      const { id } = parseInput(evaluationParams, request.params);
      const evaluation = await jobs.get(id);
      if (!evaluation) throw new ApiError(404, 'evaluation_not_found', `no evaluation ${id}`);
      const report = evaluation.status === 'running' ? undefined : await jobs.report(id);
      // The report names the questions file by its path in the data folder: the operator knows it by the name uploaded.
      return { evaluation, report: report ? { ...report, questions_file: evaluation.filename } : null };
    });
  };
}
