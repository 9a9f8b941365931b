/**
 * `npm run build`: compiles src/ to dist/ (TypeScript 7's native compiler, incremental) and copies
 * what the compiler does not emit but the code reads at run time, next to it: the classifier's
 * weights, the MIME worker's JavaScript entry, the dashboard's static files.
 *
 *   node scripts/build.mjs            build
 *   node scripts/build.mjs --if-stale build only when a file under src/ is newer than the last build
 *
 * Plain JavaScript, so it runs where tsx is not installed.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'src');
const output = path.join(root, 'dist');
const stamp = path.join(output, '.built');

/** Every file under `folder`, with its path. */
function* files(folder) {
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) yield* files(full);
    else yield full;
  }
}

if (process.argv.includes('--if-stale') && existsSync(stamp)) {
  const built = statSync(stamp).mtimeMs;
  const inputs = [...files(source), path.join(root, 'tsconfig.json'), path.join(root, 'tsconfig.build.json'), path.join(root, 'package-lock.json')];
  if (inputs.every((file) => statSync(file).mtimeMs <= built)) process.exit(0);
}

const compiler = path.join(root, 'node_modules/@typescript/native/bin/tsc');
const compiled = spawnSync(process.execPath, [compiler, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
if (compiled.status !== 0) process.exit(compiled.status ?? 1);
for (const file of files(source)) {
  if (file.endsWith('.ts')) continue;
  const target = path.join(output, path.relative(source, file));
  cpSync(file, target);
}
writeFileSync(stamp, `${new Date().toISOString()}\n`);
