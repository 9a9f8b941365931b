/**
 * Writes the sample manuals to samples/manuals/<agent_email>/: small PDFs with a titled page per
 * topic, used by the demo and by tests that ask questions about them. Sample emails elsewhere in
 * the project ask about these exact facts, so change the text only together with them.
 *
 * Run with `npx tsx scripts/make-sample-manuals.ts`. The output is byte-for-byte reproducible.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import PDFDocument from 'pdfkit';

/** One page: a heading and its paragraphs. */
interface ManualPage {
  title: string;
  paragraphs: string[];
}

/** One PDF to write. */
interface Manual {
  agentEmail: string;
  fileName: string;
  title: string;
  pages: ManualPage[];
}

const routerTitle = 'ACME Router X200 User Manual';
const billingTitle = 'ACME Billing Guide';
const thermostatTitle = 'Globex Thermostat T9 Manual';

export const sampleManuals: Manual[] = [
  {
    agentEmail: 'support@acme.example',
    fileName: 'acme-router-x200-manual.pdf',
    title: routerTitle,
    pages: [
      {
        title: 'Introduction and box contents',
        paragraphs: [
          'Thank you for choosing the ACME Router X200, a dual-band Wi-Fi router for homes and small offices.',
          'The box contains: the ACME Router X200, a 12 V power adapter, one Ethernet (WAN) cable, and this quick start manual.',
          'Read the chapters on setup and the LED indicators before you call support: most questions are answered there.',
        ],
      },
      {
        title: 'Setup and Wi-Fi',
        paragraphs: [
          'Connect the WAN port of the router to your modem with the supplied cable, then plug in the power adapter.',
          'The router broadcasts a Wi-Fi network named ACME-X200-xxxx, where xxxx are the last four characters of the serial number. The Wi-Fi password is printed on the label under the router.',
          'To change the network name or password, connect to the router and open the web admin at http://192.168.8.1 in a browser. Sign in with the admin password printed on the same label.',
        ],
      },
      {
        title: 'Resetting the admin password',
        paragraphs: [
          'If you forgot the admin password of the web admin, reset the router to its factory settings.',
          'Hold the recessed RESET button on the back of the router for 10 seconds, for example with a paper clip, until the power LED blinks amber. Then release the button.',
          'The router restarts with the default admin password printed on the label under the router. Your Wi-Fi settings return to the defaults too.',
        ],
      },
      {
        title: 'Firmware update',
        paragraphs: [
          'New firmware brings security fixes and improvements. To update, open the web admin and go to Settings > System > Firmware Update, then click Check for updates.',
          'When a new version is found, the update is downloaded and installed. The firmware update takes about 5 minutes and the router restarts when it is done.',
          'Never power off the router during the firmware update: an interrupted update can leave the router unusable.',
        ],
      },
      {
        title: 'LED indicators and troubleshooting',
        paragraphs: [
          'Solid green: the router is online and working normally.',
          'Blinking red: no internet connection. Check the WAN cable between the router and the modem, restart the modem, then restart the router.',
          'Solid red: hardware fault. Do not try to repair the router yourself; contact ACME support.',
        ],
      },
      {
        title: 'Warranty',
        paragraphs: [
          'The ACME Router X200 comes with a warranty of 2 years from the date of purchase.',
          'To make a warranty claim, request an RMA (return merchandise authorization) in the ACME support portal. You need the serial number printed on the label under the router.',
        ],
      },
    ],
  },
  {
    agentEmail: 'support@acme.example',
    fileName: 'acme-billing-guide.pdf',
    title: billingTitle,
    pages: [
      {
        title: 'Invoices',
        paragraphs: [
          'Invoices are issued on the 1st of each month for the month ahead.',
          'You can download every invoice as a PDF from Account > Billing > Invoices in your ACME account.',
        ],
      },
      {
        title: 'Refunds',
        paragraphs: [
          'Refunds are available within 30 days of purchase.',
          'To ask for a refund, go to Account > Billing > Request refund and choose the order.',
          'Approved refunds are processed within 5-7 business days and paid back to the original payment method.',
        ],
      },
      {
        title: 'Changing or cancelling a plan',
        paragraphs: [
          'To change or cancel your plan, go to Account > Subscription.',
          'A cancellation takes effect at the end of the current billing period; you keep access until then.',
        ],
      },
    ],
  },
  {
    agentEmail: 'support@globex.example',
    fileName: 'globex-thermostat-t9-manual.pdf',
    title: thermostatTitle,
    pages: [
      {
        title: 'Installation',
        paragraphs: [
          'Before you install the Globex Thermostat T9, turn off the power to your heating system at the breaker.',
          'Remove the old thermostat, connect the wires to the matching terminals, and connect the C-wire (common wire), which powers the display.',
        ],
      },
      { title: 'Schedules', paragraphs: ['Create heating schedules in the Globex app. You can set up to 4 periods per day, each with its own temperature.'] },
      {
        title: 'Battery replacement',
        paragraphs: [
          'The Globex Thermostat T9 uses two AA batteries as a backup power source.',
          'Replace the batteries when the low-battery icon shows on the display: slide the faceplate off, replace both AA batteries, and slide the faceplate back on.',
        ],
      },
    ],
  },
];

/** A fixed date, so that running the script again writes identical files. */
const creationDate = new Date('2025-01-15T09:00:00Z');

/** Renders one manual to PDF bytes. */
export function renderManual(manual: Manual): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const document = new PDFDocument({
      autoFirstPage: false,
      info: { Title: manual.title, Author: 'ragmail samples', CreationDate: creationDate },
    });
    const parts: Buffer[] = [];
    document.on('data', (part: Buffer) => parts.push(part));
    document.on('end', () => resolve(Buffer.concat(parts)));
    document.on('error', reject);
    manual.pages.forEach((page, index) => {
      document.addPage({ size: 'A4', margin: 60 });
      document
        .font('Helvetica')
        .fontSize(9)
        .fillColor('#666666')
        .text(`${manual.title} - page ${index + 1}`);
      document.moveDown(1.5);
      document.font('Helvetica-Bold').fontSize(18).fillColor('#000000').text(page.title);
      document.moveDown(0.8);
      for (const paragraph of page.paragraphs) {
        document.font('Helvetica').fontSize(11).text(paragraph, { lineGap: 2 });
        document.moveDown(0.6);
      }
    });
    document.end();
  });
}

async function main(): Promise<void> {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'samples', 'manuals');
  for (const manual of sampleManuals) {
    const directory = path.join(root, manual.agentEmail);
    fs.mkdirSync(directory, { recursive: true });
    const file = path.join(directory, manual.fileName);
    const bytes = await renderManual(manual);
    fs.writeFileSync(file, bytes);
    console.log(`${path.relative(process.cwd(), file)}: ${manual.pages.length} pages, ${bytes.length} bytes`);
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
