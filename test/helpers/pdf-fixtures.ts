/**
 * PDFs built in memory for tests, so no binary fixture has to live in the tree.
 * Each generator makes a real document with pdfkit, or a deliberately broken one.
 */
import { createDeflate } from 'node:zlib';
import PDFDocument from 'pdfkit';

/** Options shared by the generators that build a real document. */
interface DocumentOptions {
  /** When set, the PDF is encrypted and needs this password to open. */
  userPassword?: string;
}

function renderDocument(pages: string[], options: DocumentOptions = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const document = new PDFDocument({
      autoFirstPage: false,
      userPassword: options.userPassword,
      ownerPassword: options.userPassword ? `${options.userPassword}-owner` : undefined,
      pdfVersion: options.userPassword ? '1.7' : undefined,
    });
    const parts: Buffer[] = [];
    document.on('data', (part: Buffer) => parts.push(part));
    document.on('end', () => resolve(Buffer.concat(parts)));
    document.on('error', reject);
    for (const pageText of pages) {
      document.addPage({ size: 'A4', margin: 50 });
      document.fontSize(12).text(pageText);
    }
    document.end();
  });
}

/** A PDF with one page per string, each page holding that text. */
export function makePdf(pages: string[]): Promise<Buffer> {
  return renderDocument(pages);
}

/** One paragraph of a {@link makeManualPdf} page: prose, or lines of code. */
export type ManualBlock = { prose: string } | { code: string[] };

/**
 * A PDF laid out as a manual sets it: each page's prose in Helvetica, wrapped by pdfkit into lines
 * at the page width, its code in Courier (a fixed-pitch font), one line per line, indented.
 * A prose paragraph may hold code words in Courier inside the sentence: write them `like this`.
 */
export function makeManualPdf(pages: ManualBlock[][]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const document = new PDFDocument({ autoFirstPage: false });
    const parts: Buffer[] = [];
    document.on('data', (part: Buffer) => parts.push(part));
    document.on('end', () => resolve(Buffer.concat(parts)));
    document.on('error', reject);
    for (const blocks of pages) {
      document.addPage({ size: 'A4', margin: 50 });
      for (const block of blocks) {
        if ('code' in block) {
          for (const line of block.code) document.font('Courier').fontSize(11).text(line, 70);
        } else {
          const pieces = block.prose.split('`');
          pieces.forEach((piece, index) =>
            document
              .font(index % 2 === 1 ? 'Courier' : 'Helvetica')
              .fontSize(12)
              .text(piece, 50, undefined, { continued: index < pieces.length - 1 }),
          );
        }
        document.moveDown(0.5);
      }
    }
    document.end();
  });
}

/** A one-page PDF that needs a user password to open. */
export function makeEncryptedPdf(): Promise<Buffer> {
  return renderDocument(['Secret page: only readable with the password.'], { userPassword: 'secret' });
}

/** A file that starts like a PDF and then holds nothing a parser can use. */
export function makeCorruptPdf(): Buffer {
  const garbage = Buffer.alloc(2048);
  for (let index = 0; index < garbage.length; index += 1) {
    // A fixed pseudo-random pattern keeps the fixture deterministic.
    garbage[index] = (index * 197 + 31) % 251;
  }
  return Buffer.concat([Buffer.from('%PDF-1.4\n'), garbage]);
}

/** Serialises numbered PDF objects (1..n) with a correct cross-reference table. */
function assemblePdf(objects: string[]): Buffer {
  let body = '%PDF-1.4\n';
  const offsets: number[] = [];
  objects.forEach((object, index) => {
    offsets.push(Buffer.byteLength(body, 'latin1'));
    body += `${index + 1} 0 obj\n${object}\nendobj\n`;
  });
  const xrefOffset = Buffer.byteLength(body, 'latin1');
  body += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) {
    body += `${String(offset).padStart(10, '0')} 00000 n \n`;
  }
  body += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xrefOffset}\n%%EOF\n`;
  return Buffer.from(body, 'latin1');
}

/**
 * A PDF of a few kilobytes whose page tree really resolves to `claimedPages` pages (a multiple of
 * 1000, at least 2000). Parsers check a page count by fetching the last page and recount a tree
 * that lies, so the tree is made consistent cheaply instead: the root lists one shared subtree of
 * 1000 pages many times, then a last subtree whose 1000 kids are one shared page and a final
 * distinct page. Used to prove that the page limit is enforced before any text is extracted.
 */
export function makePdfClaimingPages(claimedPages: number): Buffer {
  const pagesPerSubtree = 1000;
  if (!Number.isInteger(claimedPages / pagesPerSubtree) || claimedPages < 2 * pagesPerSubtree) {
    throw new Error('makePdfClaimingPages: claimedPages must be a multiple of 1000, at least 2000');
  }
  const sharedSubtrees = claimedPages / pagesPerSubtree - 1;
  // Objects: 1 catalog, 2 root, 3 shared subtree, 4 last subtree, 5 shared page, 6 last page,
  // 7 content stream, 8 font.
  const content = 'BT /F1 12 Tf 72 720 Td (A page tree of many pages.) Tj ET';
  const pageDictionary = (parent: number): string =>
    `<< /Type /Page /Parent ${parent} 0 R /MediaBox [0 0 595 842] /Contents 7 0 R ` + '/Resources << /Font << /F1 8 0 R >> >> >>';
  return assemblePdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    `<< /Type /Pages /Count ${claimedPages} /Kids [${'3 0 R '.repeat(sharedSubtrees)}4 0 R] >>`,
    `<< /Type /Pages /Parent 2 0 R /Count ${pagesPerSubtree} /Kids [${'5 0 R '.repeat(pagesPerSubtree)}] >>`,
    `<< /Type /Pages /Parent 2 0 R /Count ${pagesPerSubtree} /Kids [${'5 0 R '.repeat(pagesPerSubtree - 1)}6 0 R] >>`,
    pageDictionary(3),
    pageDictionary(4),
    `<< /Length ${content.length} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ]);
}

/** Serialises PDF objects whose bodies may hold binary stream data (latin1 text around raw bytes). */
function assembleBinaryPdf(objects: Array<string | Buffer[]>): Buffer {
  const parts: Buffer[] = [Buffer.from('%PDF-1.4\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let length = parts[0].length;
  const offsets: number[] = [];
  const push = (part: Buffer) => {
    parts.push(part);
    length += part.length;
  };
  objects.forEach((object, index) => {
    offsets.push(length);
    push(Buffer.from(`${index + 1} 0 obj\n`, 'latin1'));
    for (const piece of typeof object === 'string' ? [Buffer.from(object, 'latin1')] : object) push(piece);
    push(Buffer.from('\nendobj\n', 'latin1'));
  });
  const xrefOffset = length;
  let tail = `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const offset of offsets) tail += `${String(offset).padStart(10, '0')} 00000 n \n`;
  tail += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xrefOffset}\n%%EOF\n`;
  push(Buffer.from(tail, 'latin1'));
  return Buffer.concat(parts);
}

/** A stream object: its dictionary (without /Length) and its raw bytes. */
function streamObject(dictionary: string, data: Buffer): Buffer[] {
  return [Buffer.from(`<< ${dictionary} /Length ${data.length} >>\nstream\n`, 'latin1'), data, Buffer.from('\nendstream', 'latin1')];
}

const helveticaFont = '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>';

/** Options of {@link makeCompressedStreamBomb}. */
export interface StreamBombOptions {
  /** Bytes the page's content stream inflates to. Default 35 MiB (a file of about 100 KB). */
  inflatedBytes?: number;
}

/**
 * A one-page PDF of about 3 KB per inflated MiB whose content stream is a FlateDecode stream of
 * text-drawing operators repeated until it inflates to `inflatedBytes`: a compressed-stream bomb
 * (at the default, ~100 KB that read as 17 million characters). Built by deflating one repeated 1 MiB buffer piece by piece, so the test never holds the
 * inflated text itself.
 */
export async function makeCompressedStreamBomb(options: StreamBombOptions = {}): Promise<Buffer> {
  const inflatedBytes = options.inflatedBytes ?? 35 * 1024 * 1024;
  const operators = 'BT /F1 12 Tf 72 720 Td (Compressed stream bomb text.) Tj ET\n';
  const piece = Buffer.from(operators.repeat(Math.ceil((1024 * 1024) / operators.length)), 'latin1');
  const deflate = createDeflate({ level: 9 });
  const compressed: Buffer[] = [];
  deflate.on('data', (part: Buffer) => compressed.push(part));
  const finished = new Promise<void>((resolve, reject) => {
    deflate.on('end', resolve);
    deflate.on('error', reject);
  });
  for (let written = 0; written < inflatedBytes; written += piece.length) {
    if (!deflate.write(piece)) await new Promise((resolve) => deflate.once('drain', resolve));
  }
  deflate.end();
  await finished;
  return assembleBinaryPdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Count 1 /Kids [3 0 R] >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    streamObject('/Filter /FlateDecode', Buffer.concat(compressed)),
    helveticaFont,
  ]);
}

/** Options of {@link makeNestedFormBomb}. */
export interface NestedFormBombOptions {
  /** Levels of forms above the one that draws text. Default 6. */
  depth?: number;
  /** Times each form draws the form below it. Default 10: the text is drawn 10^6 times. */
  fanOut?: number;
  /** The line of text the lowest form draws. */
  text?: string;
}

/**
 * A PDF of about 2 KB whose one page draws a form XObject that draws the form below it `fanOut`
 * times, `depth` levels deep, the lowest drawing one line of text: the text multiplies to
 * fanOut^depth copies (18 million characters at the defaults).
 */
export function makeNestedFormBomb(options: NestedFormBombOptions = {}): Buffer {
  const depth = options.depth ?? 6;
  const fanOut = options.fanOut ?? 10;
  // Objects: 1 catalog, 2 pages, 3 page, 4 page content, 5 font, 6.. forms (6 draws text).
  const formNumber = (level: number) => 6 + level;
  const forms: Buffer[][] = [];
  for (let level = 0; level <= depth; level += 1) {
    const content = level === 0 ? `BT /F1 12 Tf 72 720 Td (${options.text ?? 'Nested form text.'}) Tj ET` : 'q /X Do Q\n'.repeat(fanOut);
    const below = level === 0 ? '' : `/XObject << /X ${formNumber(level - 1)} 0 R >>`;
    forms.push(
      streamObject(`/Type /XObject /Subtype /Form /BBox [0 0 595 842] /Resources << /Font << /F1 5 0 R >> ${below} >>`, Buffer.from(content, 'latin1')),
    );
  }
  const pageContent = Buffer.from('/X Do', 'latin1');
  return assembleBinaryPdf([
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Count 1 /Kids [3 0 R] >>',
    `<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> /XObject << /X ${formNumber(depth)} 0 R >> >> >>`,
    streamObject('', pageContent),
    helveticaFont,
    ...forms,
  ]);
}
