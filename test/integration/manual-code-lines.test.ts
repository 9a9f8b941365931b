/**
 * A manual's code from the PDF to the reply, through the project's own path in one process (the
 * evaluation harness: the ingester's handler with its PDF sandbox, a fresh SQLite store, the
 * classifier, responder and sender handlers, the local model): the example's lines come out one
 * per line, indented, where the manual's wrapped prose is quoted as sentences.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openHarness } from '../../src/eval/harness.js';
import { createLogger } from '../../src/lib/log.js';
import { makeManualPdf } from '../helpers/pdf-fixtures.js';

const MAILBOX = 'support@plotter.example';
const EXAMPLE = ['f(x) = a + b*x + c*x**2', "fit f(x) 'measured.dat' using 1:2 via a,b,c", "plot 'measured.dat' u 1:2, f(x)"];

test('ingest, retrieve, reply: the code lines of a PDF manual reach the reply one per line, its wrapped prose as sentences', { timeout: 120_000 }, async () => {
  const work = await mkdtemp(path.join(tmpdir(), 'code-lines-'));
  const harness = await openHarness({
    agentEmail: MAILBOX,
    env: { ...process.env, LLM_PROVIDERS: 'local', REDIS_URL: '' },
    freshStore: true,
    logger: createLogger({ level: 'error', format: 'json', role: 'test' }),
  });
  try {
    const manual = path.join(work, 'plotter.pdf');
    await writeFile(
      manual,
      await makeManualPdf([
        [{ prose: 'Installing the plotter: unpack the archive, run the installer and start the program from the menu of your desktop.' }],
        [
          {
            prose:
              'The fit command fits a user-supplied function to a set of measured data points, using the nonlinear least-squares Marquardt-Levenberg algorithm. The basic use of `fit` is best explained by a simple example:',
          },
          { code: EXAMPLE },
          { prose: 'After the fit, the variables a, b and c hold the fitted values and the plot shows the curve over the data.' },
        ],
      ]),
    );
    await harness.ingest(manual, 'plotter.pdf');
    const email = {
      id: 'fit-1',
      from: 'Robin Customer <robin@example.org>',
      subject: 'Fitting a curve to measured data',
      body: 'Hello, how do I fit a function to my measured data points with the fit command, and which algorithm does it use? Thanks, Robin',
    };

    const [top] = await harness.retrieve(email, 3);
    assert.equal(top.page, 2);
    assert.ok(top.text.includes(`\t${EXAMPLE.join('\t')}\n`), JSON.stringify(top.text));

    const result = await harness.run(email);
    const body = result.reply?.body ?? '';
    assert.ok(body.includes(`example:\n\n${EXAMPLE.map((line) => `    ${line}`).join('\n')}\n\n> `), body);
    // The wrapped prose lines are one sentence each, none cut where the PDF's line ended.
    assert.match(
      body,
      /^> The fit command fits a user-supplied function to a set of measured data points, using the nonlinear least-squares Marquardt-Levenberg algorithm\.$/m,
    );
    assert.deepEqual(result.reply?.cited, [{ manual: 'plotter.pdf', page: 2 }]);
  } finally {
    await harness.close();
    await rm(work, { recursive: true, force: true });
  }
});
