/**
 * `npm run ingest` stops bad input at the door: every file and the mailbox are checked before the
 * first publish, so one refused file leaves nothing queued or stored — proved on the real broker by
 * counting `documents.to_ingest`, and in the upload folder.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import amqplib from 'amqplib';
import { Broker } from '../../src/messaging/broker.js';
import { QUEUES } from '../../src/messaging/topology.js';
import { createTestVhost, type TestVhost } from '../helpers/broker.js';
import { makePdf } from '../helpers/pdf-fixtures.js';
import { PROJECT_ROOT } from '../helpers/worker-process.js';

const run = promisify(execFile);
const MAILBOX = 'support@acme.example';

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `ragmail ingest` against the vhost; never throws on a non-zero exit. */
async function ingest(vhost: TestVhost, args: string[], environment: Record<string, string> = {}): Promise<Outcome> {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    AMQP_URL: vhost.config.AMQP_URL,
    DATA_DIR: vhost.dataDir,
    LOG_LEVEL: 'error',
    ...environment,
  };
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', 'src/cli/index.ts', 'ingest', ...args], {
      cwd: PROJECT_ROOT,
      env,
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout: string; stderr: string };
    return { code: failed.code ?? -1, stdout: failed.stdout, stderr: failed.stderr };
  }
}

/** Messages waiting in documents.to_ingest, and the documents stored in the upload folder. */
async function published(vhost: TestVhost): Promise<{ toIngest: number; stored: number }> {
  const connection = await amqplib.connect(vhost.config.AMQP_URL);
  try {
    const channel = await connection.createChannel();
    const stored = await readdir(vhost.config.UPLOAD_DIR).catch(() => []);
    return { toIngest: (await channel.checkQueue(QUEUES.toIngest)).messageCount, stored: stored.length };
  } finally {
    await connection.close();
  }
}

/** A vhost with the topology declared, and a folder of files to ingest: two manuals, a text file, an empty file. */
async function setUp(): Promise<{ vhost: TestVhost; files: Record<'manual' | 'second' | 'readme' | 'empty' | 'missing', string> }> {
  const vhost = await createTestVhost();
  const broker = new Broker(vhost.config, vhost.logger);
  await broker.start();
  await broker.close();
  const folder = path.join(vhost.dataDir, 'to-ingest');
  await mkdir(folder);
  const files = {
    manual: path.join(folder, 'manual.pdf'),
    second: path.join(folder, 'second.pdf'),
    readme: path.join(folder, 'README.pdf'),
    empty: path.join(folder, 'empty.pdf'),
    missing: path.join(folder, 'missing.pdf'),
  };
  await writeFile(files.manual, await makePdf(['Resetting the router: hold the button for ten seconds.']));
  await writeFile(files.second, await makePdf(['Warranty: two years.']));
  await writeFile(files.readme, '# README\n\nNot a PDF, whatever its name says.\n');
  await writeFile(files.empty, '');
  return { vhost, files };
}

test('ingest refuses the whole command when one file is missing, empty or not a PDF: each named with its problem, exit 2, nothing queued', async () => {
  const { vhost, files } = await setUp();
  try {
    const outcome = await ingest(vhost, ['--mailbox', MAILBOX, files.manual, files.readme, files.missing, files.empty]);
    assert.equal(outcome.code, 2, outcome.stderr);
    assert.equal(outcome.stdout, '');
    assert.match(outcome.stderr, /README\.pdf is not a PDF \(its content looks like an unknown type\)/);
    assert.match(outcome.stderr, /missing\.pdf cannot be read: no such file/);
    assert.match(outcome.stderr, /empty\.pdf is empty/);
    assert.doesNotMatch(outcome.stderr, /manual\.pdf/, 'the good file is not among the problems');
    assert.match(outcome.stderr, /Nothing was queued/);
    assert.deepEqual(await published(vhost), { toIngest: 0, stored: 0 });
  } finally {
    await vhost.cleanup();
  }
});

test('ingest refuses a mailbox that is not an email address and a file over API_MAX_UPLOAD_BYTES, before publishing anything', async () => {
  const { vhost, files } = await setUp();
  try {
    const notAnAddress = await ingest(vhost, ['--mailbox', 'notanemail', files.manual]);
    assert.equal(notAnAddress.code, 2, notAnAddress.stderr);
    assert.match(notAnAddress.stderr, /--mailbox "notanemail": must be an email address/);
    const tooLarge = await ingest(vhost, ['--mailbox', MAILBOX, files.second, files.manual], { API_MAX_UPLOAD_BYTES: '1000' });
    assert.equal(tooLarge.code, 2, tooLarge.stderr);
    assert.match(tooLarge.stderr, /manual\.pdf is larger than 1000 bytes \(API_MAX_UPLOAD_BYTES\)/);
    assert.deepEqual(await published(vhost), { toIngest: 0, stored: 0 });
  } finally {
    await vhost.cleanup();
  }
});

test('ingest of good PDFs stores and queues each one (the counts above would see a publish)', async () => {
  const { vhost, files } = await setUp();
  try {
    const outcome = await ingest(vhost, ['--mailbox', ` ${MAILBOX.toUpperCase()} `, files.manual, files.second]);
    assert.equal(outcome.code, 0, outcome.stderr);
    assert.match(outcome.stdout, /queued manual\.pdf for support@acme\.example/);
    assert.match(outcome.stdout, /queued second\.pdf for support@acme\.example/);
    assert.deepEqual(await published(vhost), { toIngest: 2, stored: 2 });
  } finally {
    await vhost.cleanup();
  }
});
