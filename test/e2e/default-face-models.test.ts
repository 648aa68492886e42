// The bundled face models (models/blazeface, models/mobileface, made by
// scripts/default-face-models.ts), served as `npm start` serves them: a user posts a photo to the
// detector and gets its faces, and verifies two photos with one request.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';

import sharp from 'sharp';
import request from 'supertest';

import { readArtifact } from '../../src/artifact/read-artifact.js';
import { FaceDetector } from '../../src/infer/face-detection/face-detector.js';
import { ModelSession } from '../../src/infer/model-session.js';
import { detectPhotoFaces } from '../../src/infer/photo-faces.js';
import { startServer, type RunningServer } from '../../src/server/server.js';

interface FaceJson {
  box: { x: number; y: number; width: number; height: number };
  score: number;
  keypoints: { name: string; x: number; y: number }[];
  embedding?: number[];
}

describe('bundled face models: detect, embed and verify whole photos', () => {
  let server: RunningServer;
  let sample1: Buffer;
  let sample4: Buffer;
  before(async () => {
    server = await startServer({ modelsDir: 'models', port: 0, host: '127.0.0.1', device: 'cpu', quiet: true, log: () => {} });
    await server.ready;
    sample1 = await readFile('test/fixtures/faces/sample1.jpg');
    sample4 = await readFile('test/fixtures/faces/sample4.jpg');
  });
  after(async () => server?.close());

  it('serves the detector and the embedder next to the classifiers', async () => {
    const res = await request(server.url).get('/v1/models');
    const tasks = Object.fromEntries(res.body.models.map((m: { name: string; task: string }) => [m.name, m.task]));
    assert.deepEqual(tasks, { blazeface: 'detector', 'fashion-mnist-lt-bce3s': 'classifier', 'mnist-resnet8': 'classifier', mobileface: 'embedder' });
    assert.equal((await request(server.url).get('/v2/health/ready')).status, 200);
    const manifest = (await request(server.url).get('/v1/models/mobileface')).body;
    assert.equal(manifest.provenance.licence.startsWith('MIT'), true);
    assert.equal(manifest.face.input, 'photo');
    assert.ok(manifest.provenance.conventions.chosen.margin > 0);
  });

  it('POST /detect answers every face of sample1.jpg in the photo\'s pixels, multipart or raw', async () => {
    const res = await request(server.url).post('/v1/models/blazeface/detect').attach('image', sample1, 'sample1.jpg');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.deepEqual(res.body.image, { width: 1024, height: 683 });
    assert.equal(res.body.faces.length, 3);
    for (const f of res.body.faces as FaceJson[]) {
      assert.ok(f.box.x >= 0 && f.box.y >= 0 && f.box.x + f.box.width <= 1024 && f.box.y + f.box.height <= 683);
      assert.deepEqual(f.keypoints.map((k) => k.name), ['right_eye', 'left_eye', 'nose_tip', 'mouth_centre', 'right_ear', 'left_ear']);
    }
    const raw = await request(server.url).post('/v1/models/blazeface/detect?max_faces=2').set('Content-Type', 'image/jpeg').send(sample1);
    assert.equal(raw.body.faces.length, 2);
    assert.ok(raw.body.time_ms.inference > 0 && raw.body.time_ms.total >= raw.body.time_ms.inference);
  });

  it('POST /embed on a photo answers each face with its box and a unit-length embedding', async () => {
    const res = await request(server.url).post('/v1/models/mobileface/embed').attach('image', sample4, 'sample4.jpg');
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.faces.length, 4);
    for (const f of res.body.faces as FaceJson[]) {
      assert.equal(f.embedding!.length, 256);
      assert.ok(Math.abs(Math.hypot(...f.embedding!) - 1) < 1e-4);
    }
  });

  it('?input=aligned takes an aligned crop as is: the same embedding as the photo route gives that face', async () => {
    const detector = new FaceDetector(await ModelSession.create(await readArtifact('models/blazeface'), { device: 'cpu' }));
    const photo = await detectPhotoFaces(sample4, detector);
    await detector.session.release();
    const crop = photo.faces[0].aligned;
    const png = await sharp(Buffer.from(crop.data), { raw: { width: crop.width, height: crop.height, channels: 3 } }).png().toBuffer();
    const aligned = await request(server.url).post('/v1/models/mobileface/embed?input=aligned').attach('image', png, 'crop.png');
    assert.equal(aligned.status, 200, JSON.stringify(aligned.body));
    const whole = await request(server.url).post('/v1/models/mobileface/embed').attach('image', sample4, 'sample4.jpg');
    const a = aligned.body.embedding as number[];
    const b = (whole.body.faces as FaceJson[])[0].embedding!;
    assert.ok(a.every((v, i) => Math.abs(v - b[i]) < 1e-5), 'identical crops give identical embeddings');
  });

  it('POST /verify: a photo and its mirror image are the same person; two people of one photo are not as close', async () => {
    const mirrored = await sharp(sample1).flop().jpeg({ quality: 92 }).toBuffer();
    const same = await request(server.url).post('/v1/models/mobileface/verify').attach('image1', sample1, 'a.jpg').attach('image2', mirrored, 'b.jpg');
    assert.equal(same.status, 200, JSON.stringify(same.body));
    assert.deepEqual(same.body.faces.map((f: { image: string; index: number; faces: number }) => [f.image, f.index, f.faces]), [['image1', 0, 3], ['image2', 0, 3]]);
    // The largest face of each: the same woman, mirrored (box mirrored about the vertical axis).
    const [f1, f2] = same.body.faces as FaceJson[];
    assert.ok(Math.abs(f1.box.x - (1024 - f2.box.x - f2.box.width)) < 10);
    const different = await request(server.url).post('/v1/models/mobileface/verify?face2=1').attach('image1', sample1, 'a.jpg').attach('image2', sample1, 'b.jpg');
    assert.equal(different.status, 200);
    assert.ok(same.body.similarity > different.body.similarity + 0.3, `same ${same.body.similarity}, different ${different.body.similarity}`);
    assert.equal(same.body.decision, null, 'no calibrated operating points ship with the model');
  });
});
