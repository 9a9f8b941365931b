/**
 * Secrets from files: for a secret variable `NAME`, `NAME_FILE` names a file whose content is used
 * as its value — what Docker secrets (`/run/secrets/<name>`) and Kubernetes secret volumes hand a
 * container, so a key never sits in the environment, `docker inspect` or a compose file.
 */
import { readFileSync } from 'node:fs';

/** The environment with each `NAME_FILE` read into `NAME`, and what was wrong (a ConfigError's problems). */
export interface SecretFilesResult {
  env: Record<string, string | undefined>;
  problems: string[];
}

/**
 * Reads `<NAME>_FILE` for every name of `names` that has one. The file's trailing line breaks are
 * dropped (editors and `echo` add one; no secret ends with one); everything else is kept as written.
 * A problem, never quoting the secret: both `NAME` and `NAME_FILE` set (which one was meant?), a file
 * that cannot be read, an empty file.
 */
export function readSecretFiles(env: Record<string, string | undefined>, names: readonly string[]): SecretFilesResult {
  const resolved = { ...env };
  const problems: string[] = [];
  for (const name of names) {
    const file = env[`${name}_FILE`];
    if (!file) continue;
    if (env[name]) {
      problems.push(`${name} and ${name}_FILE are both set: keep one (${name}_FILE names a file holding the value)`);
      continue;
    }
    let content: string;
    try {
      content = readFileSync(file, 'utf8').replace(/[\r\n]+$/, '');
    } catch (error) {
      problems.push(`${name}_FILE=${JSON.stringify(file)}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      continue;
    }
    if (content === '') problems.push(`${name}_FILE=${JSON.stringify(file)}: the file is empty`);
    else resolved[name] = content;
  }
  return { env: resolved, problems };
}
