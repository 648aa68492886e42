// The web page's script: plain ES module, no build step, no third-party code. Each form posts
// to the HTTP API exactly as a client would and draws what comes back on the photo.

const $ = (selector, root = document) => root.querySelector(selector);

/** Where the page keeps the API key a person typed (this tab only; sent as a Bearer token). */
const API_KEY_ITEM = 'protoserve-api-key';

/** fetch that answers the JSON body, or throws the API's error as "CODE: message". */
async function api(method, path, body) {
  const init = { method };
  if (body instanceof FormData) init.body = body;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'Content-Type': 'application/json' };
  }
  const key = sessionStorage.getItem(API_KEY_ITEM);
  if (key) init.headers = { ...init.headers, Authorization: `Bearer ${key}` };
  const res = await fetch(path, init);
  const json = await res.json().catch(() => null);
  if (!res.ok) {
    const error = new Error(json?.error?.message ?? `HTTP ${res.status}`);
    error.code = json?.error?.code ?? `HTTP_${res.status}`;
    throw error;
  }
  return json;
}

function showError(section, err) {
  const p = $('.error', section);
  if (!err) {
    p.hidden = true;
    p.textContent = '';
    return;
  }
  p.hidden = false;
  p.textContent = err.code ? `${err.code}: ${err.message}` : String(err.message ?? err);
}

/** Runs a form's action with the section marked busy, then done or failed (tests wait on data-state). */
function onSubmit(form, section, action) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    section.dataset.state = 'busy';
    showError(section, null);
    try {
      await action(new FormData(form));
      section.dataset.state = 'done';
    } catch (err) {
      showError(section, err);
      section.dataset.state = 'failed';
    }
  });
}

/**
 * Draws the photo on the canvas at most 900 px wide; answers the scale from photo pixels to
 * canvas pixels, or 0 (no preview) for a file the browser cannot decode: the server's answer
 * still shows, with its error code.
 */
async function drawPhoto(canvas, file) {
  let bitmap;
  try {
    bitmap = await createImageBitmap(file);
  } catch {
    canvas.hidden = true;
    return 0;
  }
  const scale = Math.min(1, 900 / bitmap.width);
  canvas.width = Math.round(bitmap.width * scale);
  canvas.height = Math.round(bitmap.height * scale);
  canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
  canvas.hidden = false;
  bitmap.close();
  return scale;
}

const COLORS = ['#00c853', '#2979ff', '#ff9100', '#d500f9', '#ff1744', '#00b8d4'];

/** A face's box (and keypoints) with a caption, in photo pixels scaled to the canvas. */
function drawFace(canvas, scale, face, caption, color) {
  if (!scale) return;
  const ctx = canvas.getContext('2d');
  const { x, y, width, height } = face.box;
  ctx.lineWidth = Math.max(2, canvas.width / 300);
  ctx.strokeStyle = color;
  ctx.strokeRect(x * scale, y * scale, width * scale, height * scale);
  ctx.fillStyle = color;
  for (const k of face.keypoints ?? []) {
    ctx.beginPath();
    ctx.arc(k.x * scale, k.y * scale, Math.max(2, canvas.width / 250), 0, 2 * Math.PI);
    ctx.fill();
  }
  if (caption) {
    const size = Math.max(12, Math.round(canvas.width / 55));
    ctx.font = `${size}px "DejaVu Sans", sans-serif`;
    const w = ctx.measureText(caption).width + 8;
    const top = Math.max(0, y * scale - size - 6);
    ctx.fillRect(x * scale, top, w, size + 6);
    ctx.fillStyle = '#fff';
    ctx.fillText(caption, x * scale + 4, top + size);
  }
  canvas.dataset.faces = String(Number(canvas.dataset.faces ?? 0) + 1);
}

function resetCanvas(canvas) {
  canvas.dataset.faces = '0';
}

// ---- models -------------------------------------------------------------------------------

async function loadModels() {
  const { models, unavailable } = await api('GET', '/v1/models');
  const rows = $('#model-rows');
  rows.replaceChildren(
    ...models.map((m) => {
      const tr = document.createElement('tr');
      const input = `${m.input.width}x${m.input.height}x${m.input.channels} ${m.input.color ?? ''}`;
      for (const text of [m.name, m.task, m.version, m.state, m.executionProvider ?? '', input]) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      tr.dataset.model = m.name;
      return tr;
    }),
  );
  if (unavailable.length) {
    const p = $('#models-unavailable');
    p.hidden = false;
    p.textContent = `Not loaded: ${unavailable.map((u) => `${u.dir} (${u.code})`).join('; ')}`;
  }
  for (const select of document.querySelectorAll('select[data-task]')) {
    const fit = models.filter((m) => m.task === select.dataset.task);
    select.replaceChildren(...fit.map((m) => new Option(m.name, m.name)));
    if (fit.length === 0) select.replaceChildren(new Option(`(no ${select.dataset.task} served)`, ''));
  }
  document.body.dataset.models = String(models.length);
}

// ---- classify -----------------------------------------------------------------------------

function classify() {
  const section = $('#classify');
  onSubmit($('form', section), section, async (form) => {
    const model = form.get('model');
    const top = Number(form.get('top_k')) || 5;
    const body = new FormData();
    body.set('image', form.get('image'));
    const canvas = $('canvas', section);
    await drawPhoto(canvas, form.get('image'));
    const answer = await api('POST', `/v1/models/${encodeURIComponent(model)}/classify?top_k=${top}`, body);
    $('.predictions', section).replaceChildren(
      ...answer.predictions.map((p) => {
        const li = document.createElement('li');
        li.textContent = `${p.label} ${(p.score * 100).toFixed(1)}%`;
        li.dataset.label = p.label;
        li.dataset.score = String(p.score);
        const bar = document.createElement('span');
        bar.className = 'bar';
        bar.style.width = `${Math.round(p.score * 200)}px`;
        li.append(bar);
        return li;
      }),
    );
  });
}

// ---- detect -------------------------------------------------------------------------------

function detect() {
  const section = $('#detect');
  onSubmit($('form', section), section, async (form) => {
    const body = new FormData();
    body.set('image', form.get('image'));
    const canvas = $('canvas', section);
    const scale = await drawPhoto(canvas, form.get('image'));
    resetCanvas(canvas);
    const answer = await api('POST', `/v1/models/${encodeURIComponent(form.get('model'))}/detect`, body);
    answer.faces.forEach((face, i) => drawFace(canvas, scale, face, face.score.toFixed(2), COLORS[i % COLORS.length]));
    $('.summary', section).textContent = `${answer.faces.length} face${answer.faces.length === 1 ? '' : 's'} in ${answer.image.width}x${answer.image.height} (${answer.time_ms.total.toFixed(0)} ms)`;
    section.dataset.faces = String(answer.faces.length);
  });
}

// ---- verify -------------------------------------------------------------------------------

function verify() {
  const section = $('#verify');
  onSubmit($('form', section), section, async (form) => {
    const body = new FormData();
    body.set('image1', form.get('image1'));
    body.set('image2', form.get('image2'));
    const canvases = section.querySelectorAll('canvas');
    const scales = [await drawPhoto(canvases[0], form.get('image1')), await drawPhoto(canvases[1], form.get('image2'))];
    const answer = await api('POST', `/v1/models/${encodeURIComponent(form.get('model'))}/verify?input=photo`, body);
    (answer.faces ?? []).forEach((face, i) => {
      resetCanvas(canvases[i]);
      drawFace(canvases[i], scales[i], face, `face ${face.index} of ${face.faces}`, COLORS[i]);
    });
    const decision = answer.decision
      ? `${answer.decision.same ? 'same person' : 'different people'} at FAR ${answer.decision.far} (threshold ${answer.decision.threshold.toFixed(3)})`
      : 'no decision: the model has no calibrated operating point';
    $('.summary', section).textContent = `similarity ${answer.similarity.toFixed(3)}; ${decision}`;
    section.dataset.similarity = String(answer.similarity);
  });
}

// ---- galleries ----------------------------------------------------------------------------

async function loadGalleries(select) {
  const { galleries } = await api('GET', '/v1/galleries');
  const chosen = select.value;
  select.replaceChildren(...galleries.map((g) => new Option(`${g.name} (${g.model.name}, ${g.identities} identities, ${g.faces} faces)`, g.name)));
  if (chosen && galleries.some((g) => g.name === chosen)) select.value = chosen;
  return galleries;
}

function galleries() {
  const section = $('#galleries');
  const select = $('#gallery-select');
  const gallery = () => {
    if (!select.value) throw new Error('Create a gallery first');
    return encodeURIComponent(select.value);
  };
  loadGalleries(select).catch((err) => showError(section, err));

  onSubmit($('#gallery-create'), section, async (form) => {
    const answer = await api('POST', '/v1/galleries', { name: form.get('name'), model: form.get('model') });
    $('#gallery-created').textContent = `Gallery "${answer.gallery.name}" created on ${answer.model.name}`;
    await loadGalleries(select);
    select.value = answer.gallery.name;
  });

  onSubmit($('#enroll'), section, async (form) => {
    const id = String(form.get('id'));
    try {
      await api('POST', `/v1/galleries/${gallery()}/identities`, { id });
    } catch (err) {
      if (err.code !== 'IDENTITY_EXISTS') throw err;
    }
    const body = new FormData();
    body.set('image', form.get('image'));
    const answer = await api('POST', `/v1/galleries/${gallery()}/identities/${encodeURIComponent(id)}/faces?input=photo`, body);
    $('#enroll-result').textContent = `Enrolled ${answer.faces.length} face of "${answer.identity.id}" (${answer.identity.faces} in all)`;
    await loadGalleries(select);
  });

  onSubmit($('#identify'), section, async (form) => {
    const body = new FormData();
    body.set('image', form.get('image'));
    const canvas = $('canvas', section);
    const scale = await drawPhoto(canvas, form.get('image'));
    resetCanvas(canvas);
    const answer = await api('POST', `/v1/galleries/${gallery()}/identify?input=photo&k=3`, body);
    const names = answer.faces.map((face, i) => {
      const best = face.candidates[0];
      const name = face.identity ?? (face.unknown === null && best ? `${best.identity}?` : 'unknown');
      drawFace(canvas, scale, face, best ? `${name} ${best.similarity.toFixed(2)}` : name, COLORS[i % COLORS.length]);
      return name;
    });
    const threshold = answer.operating_point?.threshold;
    $('#identify-result').textContent =
      `${answer.faces.length} face${answer.faces.length === 1 ? '' : 's'}: ${names.join(', ')}` +
      (threshold === null || threshold === undefined ? ' (no calibrated threshold: "name?" is the nearest identity, undecided)' : '');
    section.dataset.names = names.join(',');
  });
}

// ---- API key (servers beyond loopback require one: README "Security") ------------------------

function apiKey() {
  const form = $('#api-key-form');
  $('#api-key').value = sessionStorage.getItem(API_KEY_ITEM) ?? '';
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const key = $('#api-key').value.trim();
    if (key) sessionStorage.setItem(API_KEY_ITEM, key);
    else sessionStorage.removeItem(API_KEY_ITEM);
    form.dataset.state = 'busy';
    try {
      await loadModels();
      await loadGalleries($('#gallery-select'));
      showError(form, null);
      showError($('#classify'), null);
      showError($('#galleries'), null);
      form.dataset.state = 'done';
    } catch (err) {
      showError(form, err);
      form.dataset.state = 'failed';
    }
  });
}

apiKey();
loadModels()
  .catch((err) => {
    if (!err.code?.startsWith('API_KEY')) return showError($('#classify'), err);
    showError($('#api-key-form'), err);
    $('#model-rows td').textContent = 'This server requires an API key: enter it above.';
  })
  .finally(() => {
    classify();
    detect();
    verify();
    galleries();
    document.body.dataset.ready = 'true';
  });
