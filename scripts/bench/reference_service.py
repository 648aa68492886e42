"""The naive Python reference service of scripts/bench/serve.ts: FastAPI + onnxruntime + Pillow,
the way a deepface-style user writes one. uvicorn, one worker, plain `def` handlers (so FastAPI
runs them in its thread pool and two inferences overlap), onnxruntime's default session options.

    MODEL=/path/model.onnx uvicorn reference_service:app --port 8001 --workers 1

POST /embed: multipart file "image" -> the L2-normalized embedding (decode with Pillow, stretch
to 112x112 RGB, (x - 127.5) / 127.5, NCHW float32), as protoserve's /embed does.
"""
import io
import os

import numpy as np
import onnxruntime as ort
from fastapi import FastAPI, File, UploadFile
from PIL import Image

session = ort.InferenceSession(os.environ["MODEL"], providers=["CPUExecutionProvider"])
input_name = session.get_inputs()[0].name
app = FastAPI()


@app.get("/v2/health/live")
def live():
    return {"live": True}


@app.post("/embed")
def embed(image: UploadFile = File(...)):
    img = Image.open(io.BytesIO(image.file.read())).convert("RGB").resize((112, 112), Image.BILINEAR)
    x = (np.asarray(img, dtype=np.float32) - 127.5) / 127.5
    x = x.transpose(2, 0, 1)[None]
    v = session.run(None, {input_name: x})[0][0]
    v = v / (np.linalg.norm(v) or 1.0)
    return {"embedding": v.tolist(), "dimension": int(v.shape[0])}
