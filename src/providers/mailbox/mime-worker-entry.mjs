/**
 * Entry of the MIME parser's worker thread (see mime-parser.ts): loads the worker module named in
 * `workerData.module`. Plain JavaScript because on Node 20 a worker thread does not get the module
 * hooks that `--import tsx` (or the tsx CLI) installed in the main thread, so a `.ts` entry would
 * not load; tsx is registered here first when the module is TypeScript.
 */
import { workerData } from 'node:worker_threads';

if (workerData.module.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.module);
