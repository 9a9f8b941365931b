/**
 * npm run eval: what the configured providers would do with test questions, nothing sent.
 * Usage and modes: src/eval/cli.ts and eval/README.md.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { main } from '../src/eval/cli.js';

process.exitCode = await main(process.argv.slice(2), process.env, path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..'));
