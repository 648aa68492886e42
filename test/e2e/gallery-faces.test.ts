// Galleries on the shipped face models (blazeface + mobileface) and real photos: the three people
// of sample1.jpg are enrolled (as aligned crops, and one from the whole photo through the
// detector), then identified in the mirror image of the photo, every face by itself.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';

import sharp from 'sharp';
import request from 'supertest';

import { readArtifact } from '../../src/artifact/read-artifact.js';
import { FaceDetector } from '../../src/infer/face-detection/face-detector.js';
import { ModelSession } from '../../src/infer/model-session.js';
import { detectPhotoFaces } from '../../src/infer/photo-faces.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { tempDir } from '../infer/tiny-models.js';

type Box = { x: number; y: number; width: number; height: number };
const centre = (b: Box) => [b.x + b.width / 2, b.y + b.height / 2];

describe('galleries on the shipped face models', () => {
  let server: RunningServer;
  let tmp: { dir: string; cleanup: () => Promise<void> };
  let sample1: Buffer;
  let crops: Buffer[];
  let boxes: Box[];

  before(async () => {
    tmp = await tempDir();
    sample1 = await readFile('test/fixtures/faces/sample1.jpg');
    const detector = new FaceDetector(await ModelSession.create(await readArtifact('models/blazeface'), { device: 'cpu' }));
    const photo = await detectPhotoFaces(sample1, detector);
    await detector.session.release();
    boxes = photo.faces.map((f) => f.box);
    crops = await Promise.all(photo.faces.map((f) => sharp(Buffer.from(f.aligned.data), { raw: { width: 112, height: 112, channels: 3 } }).png().toBuffer()));
    server = await startServer({ modelsDir: 'models', galleriesDir: join(tmp.dir, 'galleries'), port: 0, host: '127.0.0.1', device: 'cpu', quiet: true, log: () => {}, logError: () => {} });
    await server.ready;
  });
  after(async () => {
    await server?.close();
    await tmp.cleanup();
  });

  it('enrols the people of a photo, and identifies each of them in its mirror image', async () => {
    const created = await request(server.url).post('/v1/galleries').send({ name: 'people', model: 'mobileface' });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.gallery.model.dimension, 256);
    assert.equal(boxes.length, 3);
    for (const [i, crop] of crops.entries()) {
      assert.equal((await request(server.url).post('/v1/galleries/people/identities').send({ id: `person${i}` })).status, 201);
      const enrolled = await request(server.url).post(`/v1/galleries/people/identities/person${i}/faces?input=aligned`).attach('image', crop, `p${i}.png`);
      assert.equal(enrolled.status, 201, JSON.stringify(enrolled.body));
    }
    // The whole photo (the model's face.input is "photo"): its largest face joins person0.
    const whole = await request(server.url).post('/v1/galleries/people/identities/person0/faces').attach('image', sample1, 'sample1.jpg');
    assert.equal(whole.status, 201, JSON.stringify(whole.body));
    assert.deepEqual(whole.body.detector, { name: 'blazeface', version: whole.body.detector.version });
    assert.equal(whole.body.identity.faces, 2);

    const mirrored = await sharp(sample1).flop().jpeg({ quality: 92 }).toBuffer();
    const found = await request(server.url).post('/v1/galleries/people/identify?k=3').attach('image', mirrored, 'mirrored.jpg');
    assert.equal(found.status, 200, JSON.stringify(found.body));
    assert.equal(found.body.faces.length, 3);
    // No operating point ships with the model: the answer ranks but does not decide.
    assert.equal(found.body.operating_point.source, 'uncalibrated');
    for (const face of found.body.faces as Array<{ box: Box; candidates: Array<{ identity: string; similarity: number }> }>) {
      // The enrolled face whose mirrored box is where this one is.
      const [cx, cy] = centre(face.box);
      const expected = boxes
        .map((b, i) => ({ i, d: Math.hypot(1024 - centre(b)[0] - cx, centre(b)[1] - cy) }))
        .sort((a, b) => a.d - b.d)[0].i;
      assert.equal(face.candidates[0].identity, `person${expected}`, JSON.stringify(face.candidates));
      assert.ok(face.candidates[0].similarity > face.candidates[1].similarity + 0.2, JSON.stringify(face.candidates));
    }
    // 1:1 against an identity: the same person scores far above another.
    const verify = await request(server.url).post('/v1/galleries/people/identities/person1/verify?input=aligned').attach('image', crops[1], 'a.png').attach('image', crops[2], 'b.png');
    assert.equal(verify.status, 200, JSON.stringify(verify.body));
    assert.ok(verify.body.faces[0].similarity > verify.body.faces[1].similarity + 0.3, JSON.stringify(verify.body.faces));
  });

  it('a photo without a face is NO_FACE_FOUND', async () => {
    const blank = await sharp({ create: { width: 320, height: 240, channels: 3, background: '#808080' } }).jpeg().toBuffer();
    const res = await request(server.url).post('/v1/galleries/people/identify').attach('image', blank, 'blank.jpg');
    assert.equal(res.status, 422, JSON.stringify(res.body));
    assert.equal(res.body.error.code, 'NO_FACE_FOUND');
    assert.match(res.body.error.message, /No face found in image 0 \(320x240\) by the detector "blazeface"/);
  });
});
