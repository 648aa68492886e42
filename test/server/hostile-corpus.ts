// The hostile-input corpus: requests a careless or malicious client sends, each with the answer
// the server must give (status and error code). Images are built here from a few lines each
// (sharp, zlib, hand-patched headers) rather than committed as binaries, so each one says what
// it is. hostile-input.test.ts sends the whole corpus several times to a real server and checks
// every answer, the server's health afterwards and its memory across rounds.
//
// Valid but unusual images (1x1, 16-bit, CMYK, animated, EXIF-rotated) are not hostile: they
// are answered 200 with the same predictions as their plain 8-bit equivalent (`same`), which is
// what a user of an image API expects; the point of the corpus is that nothing crashes, leaks or
// answers without a code.
import { connect } from 'node:net';
import { deflateSync } from 'node:zlib';

import sharp from 'sharp';
import request from 'supertest';

/** What a case sent back: status, the error code (if any), the predictions (if any). */
export interface Outcome {
  status: number;
  code?: string;
  body?: unknown;
}

export interface HostileCase {
  name: string;
  /**
   * Expected status and error code; `same`: 200 with the predictions of solid gray 200 (labels in
   * order, scores within 0.02); `same-label`: 200 with the same top label (CMYK without an ICC
   * profile converts back to sRGB through libvips' default profile, a few levels off).
   */
  expect: { status: number; code?: string } | 'same' | 'same-label';
  send(url: string): Promise<Outcome>;
}

export interface CorpusLimits {
  maxBodyBytes: number;
  headersTimeoutMs: number;
  requestTimeoutMs: number;
}

const CLASSIFY = '/v1/models/mean-probs/classify';
/** An identity of the suite's gallery "hostile" that no case may change. */
export const PROBE = '/v1/galleries/hostile/identities/probe';
/** A legitimate identity id that looks like a path and holds bidi, combining and emoji characters. */
export const UNICODE_ID = '../../\u202eZo\u00eb \ud83d\udc69\u200d';

function outcome(res: request.Response): Outcome {
  return { status: res.status, code: (res.body as { error?: { code?: string } } | undefined)?.error?.code, body: res.body };
}

const raw = (path: string, type: string, body: Buffer | string) => (url: string) => request(url).post(path).set('Content-Type', type).send(body).then(outcome);
const json = (method: 'post' | 'patch', path: string, body: string) => (url: string) => request(url)[method](path).set('Content-Type', 'application/json').send(body).then(outcome);

/** A PNG chunk: length, type, data, CRC-32. */
function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

function crc32(bytes: Buffer): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/** A decompression bomb: a `side` x `side` 8-bit gray PNG of zeros, a few hundred KB on the wire. */
export function pngBomb(side: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 0; // gray
  const rows = Buffer.alloc(side * (side + 1)); // filter byte 0 + zeros per row
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
}

/** A real JPEG whose frame header claims `side` x `side` pixels (a bomb by its header alone). */
async function jpegClaiming(side: number): Promise<Buffer> {
  const jpeg = Buffer.from(await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 200, g: 200, b: 200 } } }).jpeg().toBuffer());
  for (let i = 2; i < jpeg.length - 9; i++) {
    if (jpeg[i] === 0xff && jpeg[i + 1] === 0xc0) {
      jpeg.writeUInt16BE(side, i + 5);
      jpeg.writeUInt16BE(side, i + 7);
      return jpeg;
    }
  }
  throw new Error('no SOF0 marker in the JPEG');
}

/** Writes `parts` over a raw socket, `gapMs` apart, and reads the answer (status line and body). */
export function rawHttp(url: string, parts: (string | Buffer)[], gapMs = 0): Promise<Outcome> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), hostname);
    let text = '';
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' || err.code === 'EPIPE' ? undefined : reject(err)));
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      const bodyText = text.slice(text.indexOf('\r\n\r\n') + 4);
      let body: { error?: { code?: string } } | undefined;
      try {
        body = JSON.parse(bodyText) as typeof body;
      } catch {
        body = undefined;
      }
      resolve({ status, code: body?.error?.code, body });
    });
    let i = 0;
    const next = () => {
      if (socket.destroyed) return;
      if (i < parts.length) {
        socket.write(parts[i++]);
        setTimeout(next, gapMs);
      }
    };
    socket.once('connect', next);
  });
}

/** The corpus, for a server running with `limits` and the tiny models of the suite. */
export async function hostileCorpus(limits: CorpusLimits): Promise<HostileCase[]> {
  const png = await sharp({ create: { width: 28, height: 28, channels: 3, background: { r: 200, g: 200, b: 200 } } }).png().toBuffer();
  const jpeg = await sharp(png).jpeg({ quality: 95 }).toBuffer();
  const random = Buffer.alloc(4096);
  for (let i = 0; i < random.length; i++) random[i] = (i * 2654435761) >>> 24;
  const bomb = pngBomb(6000); // 36 Mpx, over the suite's limits.max_pixels
  const deep = (n: number) => `{"name": "g", "model": "color-embedder", "metadata": {"a": ${'['.repeat(n)}${']'.repeat(n)}}}`;
  const head = (path: string, extra = '') => `POST ${path} HTTP/1.1\r\nHost: localhost\r\n${extra}`;

  return [
    // Bytes that are not the image they claim to be.
    { name: 'random bytes as image/png', expect: { status: 415, code: 'IMAGE_UNREADABLE' }, send: raw(CLASSIFY, 'image/png', random) },
    { name: 'empty body', expect: { status: 400, code: 'IMAGE_REQUIRED' }, send: raw(CLASSIFY, 'image/png', Buffer.alloc(0)) },
    { name: 'PNG signature only', expect: { status: 415, code: 'IMAGE_UNREADABLE' }, send: raw(CLASSIFY, 'image/png', png.subarray(0, 8)) },
    { name: 'truncated PNG (first half)', expect: { status: 415, code: 'IMAGE_UNREADABLE' }, send: raw(CLASSIFY, 'image/png', png.subarray(0, png.length >> 1)) },
    { name: 'truncated JPEG (first half)', expect: { status: 415, code: 'IMAGE_UNREADABLE' }, send: raw(CLASSIFY, 'image/jpeg', jpeg.subarray(0, jpeg.length >> 1)) },
    { name: 'a JPEG sent as image/png', expect: 'same', send: raw(CLASSIFY, 'image/png', jpeg) },
    { name: 'SVG with an external entity', expect: { status: 415, code: 'IMAGE_UNREADABLE' }, send: raw(CLASSIFY, 'image/svg+xml', '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x SYSTEM "file:///etc/passwd">]><svg xmlns="http://www.w3.org/2000/svg" width="9" height="9"><text>&x;</text></svg>') },
    // Decompression bombs.
    { name: `PNG bomb: 6000x6000 in ${Math.round(bomb.length / 1024)} KB`, expect: { status: 413, code: 'IMAGE_TOO_LARGE' }, send: raw(CLASSIFY, 'image/png', bomb) },
    { name: 'JPEG whose header claims 65000x65000', expect: { status: 413, code: 'IMAGE_TOO_LARGE' }, send: raw(CLASSIFY, 'image/jpeg', await jpegClaiming(65000)) },
    { name: 'body over limits.max_body_bytes', expect: { status: 413, code: 'PAYLOAD_TOO_LARGE' }, send: raw(CLASSIFY, 'image/png', Buffer.concat([png, Buffer.alloc(limits.maxBodyBytes)])) },
    // Valid images of unusual kinds: the same answer as the plain one.
    { name: '1x1 image', expect: 'same', send: raw(CLASSIFY, 'image/png', await sharp({ create: { width: 1, height: 1, channels: 3, background: { r: 200, g: 200, b: 200 } } }).png().toBuffer()) },
    { name: '16-bit gray PNG', expect: 'same', send: raw(CLASSIFY, 'image/png', await sharp(png).toColourspace('grey16').png().toBuffer()) },
    { name: 'CMYK JPEG', expect: 'same-label', send: raw(CLASSIFY, 'image/jpeg', await sharp(png).toColourspace('cmyk').jpeg({ quality: 100 }).toBuffer()) },
    { name: 'animated GIF (3 frames)', expect: 'same', send: raw(CLASSIFY, 'image/gif', await animatedGif()) },
    // Wrong content types and malformed multipart.
    { name: 'text/plain body', expect: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' }, send: raw(CLASSIFY, 'text/plain', 'hello') },
    { name: 'JSON body to an image route', expect: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' }, send: raw(CLASSIFY, 'application/json', '{"image": "x"}') },
    { name: 'multipart without a boundary', expect: { status: 400, code: 'MULTIPART_MALFORMED' }, send: raw(CLASSIFY, 'multipart/form-data', '--x\r\n\r\n') },
    { name: 'multipart cut in the middle of a part', expect: { status: 400, code: 'MULTIPART_MALFORMED' }, send: raw(CLASSIFY, 'multipart/form-data; boundary=XX', Buffer.concat([Buffer.from('--XX\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'), png.subarray(0, 40)])) },
    { name: 'multipart with the image in a wrong field', expect: { status: 400, code: 'IMAGE_REQUIRED' }, send: (url) => request(url).post(CLASSIFY).attach('picture', png, 'a.png').then(outcome) },
    { name: 'multipart with 200 parts', expect: { status: 400, code: 'MULTIPART_MALFORMED' }, send: raw(CLASSIFY, 'multipart/form-data; boundary=XX', `${Array.from({ length: 200 }, (_, i) => `--XX\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\nv\r\n`).join('')}--XX--\r\n`) },
    { name: 'multipart part headers of 64 KB', expect: { status: 400, code: 'MULTIPART_MALFORMED' }, send: raw(CLASSIFY, 'multipart/form-data; boundary=XX', `--XX\r\nContent-Disposition: form-data; name="image"; filename="${'a'.repeat(65536)}.png"\r\nContent-Type: image/png\r\n\r\nxx\r\n--XX--\r\n`) },
    // JSON: malformed, deeply nested, huge and non-finite numbers.
    { name: 'malformed JSON', expect: { status: 400, code: 'BAD_REQUEST' }, send: json('post', '/v1/galleries', '{"name": "g", ') },
    { name: 'JSON nested 100000 deep', expect: { status: 413, code: 'PAYLOAD_TOO_LARGE' }, send: json('post', '/v1/galleries', deep(100_000)) },
    { name: 'JSON nested 5000 deep (inside the size limit)', expect: { status: 400, code: 'INVALID_PARAMETER' }, send: json('post', '/v1/galleries', deep(5000)) },
    { name: 'JSON nested 5000 deep in a metadata patch', expect: { status: 400, code: 'INVALID_PARAMETER' }, send: json('patch', `${PROBE}`, `{"metadata": {"a": ${'['.repeat(5000)}${']'.repeat(5000)}}}`) },
    { name: 'JSON NaN literal', expect: { status: 400, code: 'BAD_REQUEST' }, send: json('post', '/v1/galleries', '{"name": "g", "model": "color-embedder", "metadata": {"x": NaN}}') },
    { name: 'JSON number 1e999 (Infinity) in metadata', expect: { status: 400, code: 'INVALID_PARAMETER' }, send: json('post', '/v1/galleries', '{"name": "g9", "model": "color-embedder", "metadata": {"x": 1e999}}') },
    { name: 'JSON array instead of an object', expect: { status: 400, code: 'BAD_REQUEST' }, send: json('post', '/v1/galleries', '[1, 2, 3]') },
    { name: '?top_k= of 400 digits', expect: { status: 400, code: 'INVALID_PARAMETER' }, send: raw(`${CLASSIFY}?top_k=${'9'.repeat(400)}`, 'image/png', png) },
    { name: '?top_k=NaN', expect: { status: 400, code: 'INVALID_PARAMETER' }, send: raw(`${CLASSIFY}?top_k=NaN`, 'image/png', png) },
    { name: '?top_k=Infinity', expect: { status: 400, code: 'INVALID_PARAMETER' }, send: raw(`${CLASSIFY}?top_k=Infinity`, 'image/png', png) },
    { name: 'landmarks with NaN and Infinity', expect: { status: 400, code: 'BAD_LANDMARKS' }, send: (url) => request(url).post(`${PROBE}/faces`).field('landmarks', '[[NaN,1],[2,2],[3,3],[4,4],[5,5]]').attach('image', png, 'a.png').then(outcome) },
    { name: 'landmarks of 1e308', expect: { status: 400, code: 'BAD_LANDMARKS' }, send: (url) => request(url).post(`${PROBE}/faces`).field('landmarks', JSON.stringify(Array.from({ length: 5 }, () => [1e308, -1e308]))).attach('image', png, 'a.png').then(outcome) },
    // Unicode and path-like names and ids.
    { name: 'path-like gallery name ../../etc', expect: { status: 400, code: 'INVALID_PARAMETER' }, send: json('post', '/v1/galleries', '{"name": "../../etc", "model": "color-embedder"}') },
    { name: 'percent-encoded ../ in the gallery path', expect: { status: 404, code: 'GALLERY_NOT_FOUND' }, send: (url) => request(url).get('/v1/galleries/..%2F..%2Fetc').then(outcome) },
    { name: 'unicode gallery name', expect: { status: 400, code: 'INVALID_PARAMETER' }, send: json('post', '/v1/galleries', JSON.stringify({ name: 'g\u00e4l\u202e', model: 'color-embedder' })) },
    { name: 'unicode and path-like identity id', expect: { status: 409, code: 'IDENTITY_EXISTS' }, send: json('post', '/v1/galleries/hostile/identities', JSON.stringify({ id: UNICODE_ID })) },
    { name: 'identity id with a NUL byte', expect: { status: 400, code: 'INVALID_PARAMETER' }, send: json('post', '/v1/galleries/hostile/identities', '{"id": "a\\u0000b"}') },
    { name: 'identity id of 10000 characters', expect: { status: 400, code: 'INVALID_PARAMETER' }, send: json('post', '/v1/galleries/hostile/identities', JSON.stringify({ id: 'x'.repeat(10_000) })) },
    { name: 'model name with a path', expect: { status: 404, code: 'MODEL_NOT_FOUND' }, send: raw('/v1/models/..%2F..%2Fpackage.json/classify', 'image/png', png) },
    { name: 'malformed percent-encoding in the path', expect: { status: 400, code: 'BAD_REQUEST' }, send: raw('/v1/models/%E0%A4%A/classify', 'image/png', png) },
    // The HTTP layer: oversized headers, bytes that are not HTTP, slow clients.
    { name: 'request headers of 64 KB', expect: { status: 431, code: 'HEADERS_TOO_LARGE' }, send: (url) => rawHttp(url, [`GET /v2/health/live HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(65536)}\r\n\r\n`]) },
    { name: '1000 request headers', expect: { status: 431, code: 'HEADERS_TOO_LARGE' }, send: (url) => rawHttp(url, [`GET /v2/health/live HTTP/1.1\r\nHost: localhost\r\n${Array.from({ length: 1000 }, (_, i) => `X-H${i}: ${'v'.repeat(16)}\r\n`).join('')}\r\n`]) },
    { name: 'bytes that are not HTTP', expect: { status: 400, code: 'BAD_REQUEST' }, send: (url) => rawHttp(url, [random.subarray(0, 256)]) },
    { name: 'Content-Length and Transfer-Encoding both', expect: { status: 400, code: 'BAD_REQUEST' }, send: (url) => rawHttp(url, [`${head(CLASSIFY, 'Content-Type: image/png\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n')}0\r\n\r\n`]) },
    { name: 'slow headers (slowloris)', expect: { status: 408, code: 'REQUEST_TIMEOUT' }, send: (url) => rawHttp(url, ['POST /v1/models/mean-probs/classify HTTP/1.1\r\n', 'Host: localhost\r\n', 'X-Slow: 1\r\n'], limits.headersTimeoutMs * 0.6) },
    { name: 'slow body', expect: { status: 408, code: 'REQUEST_TIMEOUT' }, send: (url) => rawHttp(url, [head(CLASSIFY, `Content-Type: image/png\r\nContent-Length: ${png.length}\r\n\r\n`), png.subarray(0, 10), png.subarray(10, 20)], limits.requestTimeoutMs * 0.6) },
  ];
}

/** A 3-frame animated GIF, each frame solid gray 200. */
async function animatedGif(): Promise<Buffer> {
  const frame = 28 * 28 * 4;
  const pixels = Buffer.alloc(frame * 3);
  for (let i = 0; i < pixels.length; i += 4) pixels.set([200, 200, 200, 255], i);
  return sharp(pixels, { raw: { width: 28, height: 28 * 3, channels: 4, pageHeight: 28 } }).gif({ loop: 0 }).toBuffer();
}
