/**
 * The real manual of benchmark 5: Debian's `freedombox-doc-en` (the FreedomBox manual, about 300
 * pages), fetched at run time with apt into a temporary folder and never committed.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The Debian package holding the manual. */
export const MANUAL_PACKAGE = 'freedombox-doc-en';

/** A PDF to ingest; `cleanup` removes what was downloaded for it (nothing for a given file). */
export interface ManualFile {
  file: string;
  bytes: number;
  source: string;
  cleanup(): Promise<void>;
}

/** Every file below `folder`, recursively. */
async function filesBelow(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true });
  const nested = await Promise.all(
    entries.map((entry) => {
      const full = path.join(folder, entry.name);
      return entry.isDirectory() ? filesBelow(full) : Promise.resolve(entry.isFile() ? [full] : []);
    }),
  );
  return nested.flat();
}

/** `pdf` when given; otherwise downloads the package and unpacks it, and takes its largest PDF. */
export async function obtainManual(pdf?: string): Promise<ManualFile> {
  if (pdf) return { file: path.resolve(pdf), bytes: (await stat(pdf)).size, source: path.basename(pdf), cleanup: async () => undefined };
  const folder = await mkdtemp(path.join(tmpdir(), 'ragmail-bench-manual-'));
  const cleanup = () => rm(folder, { recursive: true, force: true });
  try {
    await run('apt-get', ['download', MANUAL_PACKAGE], { cwd: folder });
    const debs = (await readdir(folder)).filter((name) => name.endsWith('.deb'));
    if (debs.length === 0) throw new Error(`apt-get download ${MANUAL_PACKAGE} left no .deb`);
    await run('dpkg', ['-x', path.join(folder, debs[0]), path.join(folder, 'unpacked')]);
    const pdfs = await Promise.all(
      (await filesBelow(path.join(folder, 'unpacked'))).filter((file) => file.endsWith('.pdf')).map(async (file) => ({ file, bytes: (await stat(file)).size })),
    );
    if (pdfs.length === 0) throw new Error(`${debs[0]} holds no PDF`);
    const largest = pdfs.sort((left, right) => right.bytes - left.bytes)[0];
    return { ...largest, source: debs[0], cleanup };
  } catch (error) {
    await cleanup();
    throw new Error(`could not fetch the manual (${MANUAL_PACKAGE}); pass --pdf <path> instead: ${(error as Error).message}`);
  }
}
