// The web page at / in headless Chromium (Debian's chromium, driven by playwright-core), against
// the real server on the shipped models and real photos: the models table, classify (an MNIST
// digit), detect (boxes drawn where the API puts them), verify, and a gallery created, enrolled
// and searched from the page. Screenshots go to test-artifacts/web-page/ (git-ignored).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';

import { chromium, type Browser, type Page } from 'playwright-core';
import sharp from 'sharp';

import { keysCommand } from '../../src/server/auth/keys-command.js';
import { tempDir } from '../infer/tiny-models.js';
import { mnistDigitPng } from './mnist-digit.js';
import { FACE_PHOTOS, startShippedServer } from './shipped-server.js';

const CHROMIUM = process.env.PROTOSERVE_CHROMIUM ?? '/usr/bin/chromium';
const ARTIFACTS = join('test-artifacts', 'web-page');
const absent = existsSync(CHROMIUM) ? false : `chromium is not installed at ${CHROMIUM} (npm ci installs Debian's chromium: scripts/setup/system-packages.json)`;

type Box = { x: number; y: number; width: number; height: number };

describe('web page in headless Chromium', { skip: absent }, () => {
  let server: Awaited<ReturnType<typeof startShippedServer>>;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];
  const file = (name: string, buffer: Buffer, mimeType = 'image/jpeg') => ({ name, mimeType, buffer });
  const shot = (name: string, selector = 'body') => page.locator(selector).screenshot({ path: join(ARTIFACTS, `${name}.png`) });

  /** Submits a section's form and waits until the page marks it done (or failed: then fails with its message). */
  async function submit(section: string, form = `${section} form`): Promise<void> {
    await page.locator(`${form} button[type=submit]`).click();
    await page.waitForSelector(`${section}[data-state="done"], ${section}[data-state="failed"]`, { timeout: 60_000 });
    const state = await page.locator(section).getAttribute('data-state');
    if (state === 'failed') assert.fail(`${section}: ${await page.locator(`${section} .error`).textContent()}`);
  }

  /** The canvas pixels around a point (canvas coordinates): does any have the colour drawn? */
  async function drawnNear(canvas: string, x: number, y: number, rgb: [number, number, number]): Promise<boolean> {
    // Runs in the page (a string: this file is type-checked without the DOM's types).
    return page.evaluate(
      `(() => {
        const c = document.querySelector(${JSON.stringify(canvas)});
        const data = c.getContext('2d').getImageData(${Math.round(x) - 3}, ${Math.round(y) - 3}, 7, 7).data;
        for (let i = 0; i < data.length; i += 4) if (Math.abs(data[i] - ${rgb[0]}) + Math.abs(data[i + 1] - ${rgb[1]}) + Math.abs(data[i + 2] - ${rgb[2]}) < 40) return true;
        return false;
      })()`,
    );
  }

  before(async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    server = await startShippedServer();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    page.on('console', (msg) => {
      if (msg.type() === 'error') pageErrors.push(msg.text());
    });
    page.on('request', (req) => {
      if (!req.url().startsWith(server.url)) pageErrors.push(`request outside the server: ${req.url()}`);
    });
    await page.goto(server.url + '/');
    await page.waitForSelector('body[data-ready="true"]');
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('lists the served models', async () => {
    const names = await Promise.all((await page.locator('#model-rows tr').all()).map((row) => row.getAttribute('data-model')));
    assert.deepEqual(names.sort(), ['blazeface', 'fashion-mnist-lt-bce3s', 'mnist-resnet8', 'mobileface']);
    assert.deepEqual((await page.locator('#classify select option').allTextContents()).sort(), ['fashion-mnist-lt-bce3s', 'mnist-resnet8']);
    assert.deepEqual(await page.locator('#detect select option').allTextContents(), ['blazeface']);
    await shot('models', '#models');
  });

  test('classify: a handwritten digit, its label first', async () => {
    const digit = await mnistDigitPng(3);
    const big = await sharp(digit.png).resize(112, 112, { kernel: 'nearest' }).png().toBuffer();
    await page.locator('#classify select').selectOption('mnist-resnet8');
    await page.locator('#classify input[type=file]').setInputFiles(file('digit.png', big, 'image/png'));
    await submit('#classify');
    const first = page.locator('#classify .predictions li').first();
    assert.equal(await first.getAttribute('data-label'), String(digit.label));
    assert.ok(Number(await first.getAttribute('data-score')) > 0.5);
    assert.equal(await page.locator('#classify .predictions li').count(), 5);
    await shot('classify', '#classify');
  });

  test('classify: an unreadable file shows the error code', async () => {
    await page.locator('#classify input[type=file]').setInputFiles(file('notes.png', Buffer.from('not an image'), 'image/png'));
    await page.locator('#classify button[type=submit]').click();
    await page.waitForSelector('#classify[data-state="failed"]');
    assert.match(String(await page.locator('#classify .error').textContent()), /^IMAGE_UNREADABLE: /);
    const logged = pageErrors.splice(0); // the browser logs the 415 as a failed resource load
    assert.ok(logged.every((l) => /status of 415/.test(l)), logged.join('\n'));
  });

  test('detect: three faces, boxes drawn where the API puts them', async () => {
    const photo = await readFile(join(FACE_PHOTOS, 'sample1.jpg'));
    await page.locator('#detect input[type=file]').setInputFiles(file('sample1.jpg', photo));
    await submit('#detect');
    assert.match(String(await page.locator('#detect .summary').textContent()), /^3 faces in \d+x\d+/);
    assert.equal(await page.locator('#detect canvas').getAttribute('data-faces'), '3');
    const form = new FormData();
    form.set('image', new Blob([photo]), 'sample1.jpg');
    const api = (await (await fetch(`${server.url}/v1/models/blazeface/detect`, { method: 'POST', body: form })).json()) as { image: { width: number }; faces: { box: Box; keypoints: { x: number; y: number }[] }[] };
    const width = Number(await page.locator('#detect canvas').getAttribute('width'));
    const scale = width / api.image.width;
    const { box, keypoints } = api.faces[0];
    // A point inside the box as far as can be from its edges and keypoints: nothing drawn there.
    const grid = [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8].flatMap((fx) => [0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8].map((fy) => ({ x: box.x + fx * box.width, y: box.y + fy * box.height })));
    const clearance = (p: { x: number; y: number }) => Math.min(p.x - box.x, box.x + box.width - p.x, p.y - box.y, box.y + box.height - p.y, ...keypoints.map((k) => Math.hypot(k.x - p.x, k.y - p.y)));
    const inside = grid.reduce((a, b) => (clearance(b) > clearance(a) ? b : a));
    // The first face's box is drawn in the first colour (#00c853) on its left and bottom edges, not at its centre.
    assert.ok(await drawnNear('#detect canvas', box.x * scale, (box.y + box.height / 2) * scale, [0x00, 0xc8, 0x53]), 'left edge');
    assert.ok(await drawnNear('#detect canvas', (box.x + box.width / 2) * scale, (box.y + box.height) * scale, [0x00, 0xc8, 0x53]), 'bottom edge');
    assert.ok(clearance(inside) * scale > 8, `no clear point inside the box (${clearance(inside)} px)`);
    assert.ok(!(await drawnNear('#detect canvas', inside.x * scale, inside.y * scale, [0x00, 0xc8, 0x53])), 'inside the box, off the keypoints');
    await shot('detect', '#detect');
  });

  test('verify: a face against its mirror image is similar, against another person is not', async () => {
    const photo = await readFile(join(FACE_PHOTOS, 'sample1.jpg'));
    const mirrored = await sharp(photo).flop().jpeg().toBuffer();
    const other = await readFile(join(FACE_PHOTOS, 'sample4.jpg'));
    const similarity = async (a: Buffer, b: Buffer) => {
      await page.locator('#verify input[name=image1]').setInputFiles(file('a.jpg', a));
      await page.locator('#verify input[name=image2]').setInputFiles(file('b.jpg', b));
      await submit('#verify');
      assert.match(String(await page.locator('#verify .summary').textContent()), /^similarity -?\d\.\d{3}; no decision/);
      return Number(await page.locator('#verify').getAttribute('data-similarity'));
    };
    const different = await similarity(photo, other);
    await shot('verify-different', '#verify');
    const same = await similarity(photo, mirrored);
    await shot('verify-same', '#verify');
    assert.ok(same > 0.5 && same > different + 0.2, `same ${same}, different ${different}`);
    assert.equal(await page.locator('#verify canvas').nth(1).getAttribute('data-faces'), '1');
  });

  test('galleries: create, enrol two people, identify every face of a photo by name', async () => {
    const photo1 = await readFile(join(FACE_PHOTOS, 'sample1.jpg'));
    const photo4 = await readFile(join(FACE_PHOTOS, 'sample4.jpg'));
    await page.locator('#gallery-create input[name=name]').fill('team');
    await submit('#galleries', '#gallery-create');
    if ((await page.locator('#galleries .error').isVisible()) || !(await page.locator('#gallery-select option').count())) assert.fail('no gallery was created');
    assert.match(String(await page.locator('#gallery-created').textContent()), /Gallery "team" created on mobileface/);
    await page.locator('#enroll input[name=id]').fill('alice');
    await page.locator('#enroll input[type=file]').setInputFiles(file('alice.jpg', await sharp(photo1).flop().jpeg().toBuffer()));
    await submit('#galleries', '#enroll');
    assert.match(String(await page.locator('#enroll-result').textContent()), /Enrolled 1 face of "alice"/);
    await page.locator('#enroll input[name=id]').fill('bob');
    await page.locator('#enroll input[type=file]').setInputFiles(file('bob.jpg', photo4));
    await submit('#galleries', '#enroll');
    assert.match(String(await page.locator('#gallery-select option').first().textContent()), /team \(mobileface, 2 identities, 2 faces\)/);

    await page.locator('#identify input[type=file]').setInputFiles(file('group.jpg', photo1));
    await submit('#galleries', '#identify');
    const names = String(await page.locator('#galleries').getAttribute('data-names')).split(',');
    assert.equal(names.length, 3);
    // No calibrated threshold ships with mobileface: the nearest identity, marked undecided.
    assert.equal(names[0], 'alice?', names.join(','));
    assert.equal(await page.locator('#galleries canvas').getAttribute('data-faces'), '3');
    await shot('identify', '#galleries');
    await page.screenshot({ path: join(ARTIFACTS, 'page.png'), fullPage: true });
  });

  test('the page loaded nothing from elsewhere and logged no error', () => {
    assert.deepEqual(pageErrors, []);
  });
});

describe('web page on a server that requires API keys', { skip: absent }, () => {
  let server: Awaited<ReturnType<typeof startShippedServer>>;
  let browser: Browser;
  let page: Page;
  let key: string;
  let cleanup: () => Promise<void>;

  before(async () => {
    const tmp = await tempDir();
    cleanup = tmp.cleanup;
    const keyFile = join(tmp.dir, 'api-keys.json');
    const printed: string[] = [];
    assert.equal(await keysCommand(['create', '--scopes', 'infer', '--file', keyFile], { out: (l) => printed.push(l), note: () => {} }), 0);
    key = printed[0];
    server = await startShippedServer({ auth: 'on', apiKeyFile: keyFile });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    await page.goto(server.url + '/');
    await page.waitForSelector('body[data-ready="true"]');
  });
  after(async () => {
    await browser?.close();
    await server?.stop();
    await cleanup?.();
  });

  test('without a key the page says the server requires one and lists no model', async () => {
    assert.match(String(await page.locator('#api-key-form .error').textContent()), /^API_KEY_REQUIRED: /);
    assert.equal(await page.locator('#model-rows tr[data-model]').count(), 0);
    assert.match(String(await page.locator('#model-rows').textContent()), /requires an API key/);
  });

  test('a wrong key is refused by name; the right one lists the models and classifies', async () => {
    await page.locator('#api-key').fill('psk_000000000000_wrong');
    await page.locator('#api-key-form button[type=submit]').click();
    await page.waitForSelector('#api-key-form[data-state="failed"]');
    assert.match(String(await page.locator('#api-key-form .error').textContent()), /^API_KEY_INVALID: /);

    await page.locator('#api-key').fill(key);
    await page.locator('#api-key-form button[type=submit]').click();
    await page.waitForSelector('#api-key-form[data-state="done"]');
    assert.equal(await page.locator('#api-key-form .error').isVisible(), false);
    assert.equal(await page.locator('#model-rows tr[data-model]').count(), 4);

    const digit = await mnistDigitPng(3);
    await page.locator('#classify select').selectOption('mnist-resnet8');
    await page.locator('#classify input[type=file]').setInputFiles({ name: 'digit.png', mimeType: 'image/png', buffer: digit.png });
    await page.locator('#classify button[type=submit]').click();
    await page.waitForSelector('#classify[data-state="done"], #classify[data-state="failed"]');
    assert.equal(await page.locator('#classify').getAttribute('data-state'), 'done', String(await page.locator('#classify .error').textContent()));
    assert.equal(await page.locator('#classify .predictions li').first().getAttribute('data-label'), String(digit.label));
  });
});
