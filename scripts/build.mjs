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
import { closeSync, cpSync, existsSync, mkdirSync, openSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const source = path.join(root, 'src');
const output = path.join(root, 'dist');
const stamp = path.join(output, '.built');

const lock = path.join(output, '.building');

/** Every file under `folder`, with its path; `withFolders` adds the folders (a deleted file changes its folder's time). */
function* files(folder, withFolders = false) {
  if (withFolders) yield folder;
  for (const entry of readdirSync(folder, { withFileTypes: true })) {
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) yield* files(full, withFolders);
    else yield full;
  }
}

/** True when the last build is older than a file (or folder) under src/ or a build setting. */
function stale() {
  if (!existsSync(stamp)) return true;
  const built = statSync(stamp).mtimeMs;
  const settings = ['tsconfig.json', 'tsconfig.build.json', 'package-lock.json'].map((name) => path.join(root, name)).filter((file) => existsSync(file));
  return [...files(source, true), ...settings].some((file) => statSync(file).mtimeMs > built);
}

/** Waits while another process builds (several roles started at once after a pull), up to two minutes. */
async function takeLock() {
  mkdirSync(output, { recursive: true });
  for (let waited = 0; ; waited += 200) {
    try {
      closeSync(openSync(lock, 'wx'));
      return;
    } catch {
      // A lock older than two minutes is left by a build that died.
      if (waited >= 120_000 || Date.now() - statSync(lock, { throwIfNoEntry: false })?.mtimeMs > 120_000) {
        rmSync(lock, { force: true });
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

const ifStale = process.argv.includes('--if-stale');
if (ifStale && !stale()) process.exit(0);
await takeLock();
try {
  // Another process may have built while this one waited.
  if (!ifStale || stale()) build();
} finally {
  rmSync(lock, { force: true });
}

function build() {
  // Taken before compiling: a file edited during the build is newer than the stamp, so built again next time.
  const startedAt = new Date();
  const compiler = path.join(root, 'node_modules/@typescript/native/bin/tsc');
  const compiled = spawnSync(process.execPath, [compiler, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (compiled.status !== 0) {
    rmSync(lock, { force: true });
    process.exit(compiled.status ?? 1);
  }
  for (const file of files(source)) {
    if (file.endsWith('.ts')) continue;
    cpSync(file, path.join(output, path.relative(source, file)));
  }
  writeFileSync(stamp, `${startedAt.toISOString()}\n`);
  utimesSync(stamp, startedAt, startedAt);
}
