/**
 * How the api role starts `npm run eval` in a child process: the `eval` command of this very build's
 * CLI, with the api's own configuration.
 *
 * - From dist/ (the image, `npm run worker`): `node dist/cli/index.js eval …`. The image holds
 *   dist/ and the production dependencies only, so neither tsx nor scripts/eval.ts is there.
 * - From the sources (tests and `tsx` start the api from src/): `node --import <tsx> src/cli/index.ts
 *   eval …`, tsx resolved from this file, as Node cannot run the TypeScript alone.
 *
 * Which one is read from this module's own file name, so the child always runs the code its parent
 * runs: no PATH, no npm, no working directory, no build step in between.
 */
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { environmentOf, type Config } from './config.js';
import type { EvaluationCommand } from '../http/api/evaluation-jobs.js';

export function evaluationCommand(config: Config, moduleUrl: string = import.meta.url): EvaluationCommand {
  const fromSources = moduleUrl.endsWith('.ts');
  const cli = fileURLToPath(new URL(`../cli/index.${fromSources ? 'ts' : 'js'}`, moduleUrl));
  // tsx's loader as a file URL: `--import tsx` would be resolved from the child's working directory.
  const loader = fromSources ? ['--import', pathToFileURL(createRequire(moduleUrl).resolve('tsx')).href] : [];
  return { command: process.execPath, args: [...loader, cli, 'eval'], env: { ...environmentOf(config) } };
}
