/**
 * The dev set's manuals (eval/manuals.json): PDFs shipped in Debian packages, fetched at run time
 * with `apt-get download` and unpacked with `dpkg -x` into data/eval-cache/<package>/ (ignored by
 * git), never committed.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

const manualSchema = z.object({
  /** The document's file name, as questions name it and as it is ingested. */
  name: z.string().min(1),
  package: z.string().min(1),
  /** Where the PDF is inside the package. */
  path: z.string().min(1),
  language: z.string().length(2),
});
export type DevManual = z.infer<typeof manualSchema>;

export async function readDevManuals(file: string): Promise<DevManual[]> {
  return z.array(manualSchema).parse(JSON.parse(await readFile(file, 'utf8')));
}

/** The PDF of a dev-set manual on disk, downloading and unpacking its package the first time. */
export async function fetchDevManual(manual: DevManual, cacheDir: string): Promise<string> {
  const folder = path.join(cacheDir, manual.package);
  const pdf = path.join(folder, 'x', manual.path);
  if (existsSync(pdf)) return pdf;
  await mkdir(folder, { recursive: true });
  const debOf = async () => (await readdir(folder)).find((name) => name.startsWith(`${manual.package}_`) && name.endsWith('.deb'));
  // stderr shows apt's progress; stdout is kept clean for the report.
  if (!(await debOf())) execFileSync('apt-get', ['download', manual.package], { cwd: folder, stdio: ['ignore', 'ignore', 'inherit'] });
  const deb = await debOf();
  if (!deb) throw new Error(`apt-get download ${manual.package} left no .deb in ${folder}`);
  execFileSync('dpkg', ['-x', path.join(folder, deb), path.join(folder, 'x')]);
  if (!existsSync(pdf)) throw new Error(`${manual.package} (${deb}) has no ${manual.path}`);
  return pdf;
}
