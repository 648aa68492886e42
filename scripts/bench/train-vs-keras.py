#!/usr/bin/env python3
"""The Keras reference of scripts/bench/train-vs-keras.ts: the same net (built from protoserve's
layer graph, sent as JSON), the same batch, optimizer (SGD, momentum 0.9), loss (softmax
cross-entropy on a dense head) and thread count, trained with TensorFlow's Keras in graph mode
(a tf.function train step, as Keras's fit runs it, no XLA) or eagerly.

Protocol (one JSON object per line): reads the configuration, prints
{"ready": true, "parameters": N, "perNode": {...}, "version": ...}; then for each command line
"run S" trains S steps, reads the last loss, and prints {"seconds": s, "cpuSeconds": c, "loss": l}
(c: CPU time of the whole process, every thread).

Needs tensorflow-cpu (2.21 was measured): python3 -m venv .cache/tf-venv &&
.cache/tf-venv/bin/pip install tensorflow-cpu==2.21.0
"""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def same_padding(size, kernel, stride, dilation):
    """TensorFlow's 'same' padding (before, after) of one axis."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def build(graph, classes, tf, keras):
    layers = keras.layers
    inputs = keras.Input(shape=tuple(graph["inputShape"]))
    env = {"input": inputs}
    shapes = {"input": graph["inputShape"]}
    for node in graph["nodes"]:
        op = node["op"]
        name = node["id"].replace(".", "_")
        xs = [env[i] for i in node["inputs"]]
        x = xs[0]
        in_shape = shapes[node["inputs"][0]]
        if op in ("conv2d", "depthwiseConv2d"):
            kh, kw = node["kernel"]
            sh, sw = node["strides"]
            dh, dw = node["dilations"]
            pad = node["padding"]
            mode = pad if pad in ("same", "valid") else "valid"
            if pad not in ("same", "valid"):
                t, b, l, r = (pad,) * 4 if isinstance(pad, (int, float)) else pad
                if (t, b) == same_padding(in_shape[0], kh, sh, dh) and (l, r) == same_padding(in_shape[1], kw, sw, dw):
                    mode = "same"  # what a Keras user writes: no separate padding op
                elif (t, b, l, r) != (0, 0, 0, 0):
                    x = layers.ZeroPadding2D(((t, b), (l, r)), name=f"{name}_pad")(x)
            if op == "conv2d":
                x = layers.Conv2D(node["filters"], (kh, kw), (sh, sw), padding=mode, dilation_rate=(dh, dw),
                                  groups=node["groups"], use_bias=node["bias"], name=name)(x)
            else:
                x = layers.DepthwiseConv2D((kh, kw), (sh, sw), padding=mode, depth_multiplier=node["multiplier"],
                                           dilation_rate=(dh, dw), use_bias=node["bias"], name=name)(x)
        elif op == "batchNorm":
            x = layers.BatchNormalization(momentum=node["momentum"], epsilon=node["epsilon"], center=node["center"],
                                          scale=node["scale"], name=name)(x)
        elif op == "relu":
            x = layers.ReLU(name=name)(x)
        elif op == "prelu":
            shared = [1, 2] if len(in_shape) == 3 else None
            x = layers.PReLU(alpha_initializer=keras.initializers.Constant(node["alphaInit"]), shared_axes=shared, name=name)(x)
        elif op == "add":
            x = layers.Add(name=name)(xs)
        elif op == "globalAvgPool":
            x = layers.GlobalAveragePooling2D(name=name)(x)
        elif op == "flatten":
            x = layers.Flatten(name=name)(x)
        elif op == "dense":
            x = layers.Dense(node["units"], use_bias=node["bias"], name=name)(x)
        elif op == "dropout":
            x = layers.Dropout(node["rate"], name=name)(x)
        elif op == "l2normalize":
            x = layers.UnitNormalization(name=name)(x)
        elif op == "softmax":
            x = layers.Softmax(name=name)(x)
        else:
            raise ValueError(f"unknown op {op}")
        env[node["id"]] = x
        shapes[node["id"]] = node["shape"]
    logits = layers.Dense(classes, name="classifier")(env[graph["output"]])
    return keras.Model(inputs, logits)


def main():
    config = json.loads(sys.stdin.readline())
    import numpy as np
    import tensorflow as tf

    threads = config["threads"]
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras

    model = build(config["graph"], config["classes"], tf, keras)
    per_node = {}
    for layer in model.layers:
        count = sum(int(np.prod(w.shape)) for w in layer.trainable_weights)
        if count:
            per_node[layer.name] = count
    parameters = sum(per_node.values())
    rng = np.random.default_rng(777)
    batch = config["batch"]
    x = tf.constant(rng.uniform(-1, 1, (batch, *config["graph"]["inputShape"])).astype(np.float32))
    y = tf.constant(rng.integers(0, config["classes"], batch).astype(np.int32))
    optimizer = keras.optimizers.SGD(learning_rate=config["learningRate"], momentum=0.9)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, model(xb, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    if config["mode"] == "graph":
        step = tf.function(step, jit_compile=False)
    print(json.dumps({"ready": True, "parameters": parameters, "perNode": per_node,
                      "version": f"Keras {keras.__version__}, TensorFlow {tf.__version__}"}), flush=True)
    for line in sys.stdin:
        steps = int(line.split()[1])
        start, cpu = time.perf_counter(), time.process_time()
        loss = None
        for _ in range(steps):
            loss = step(x, y)
        value = float(loss.numpy())  # waits for the last step
        print(json.dumps({"seconds": time.perf_counter() - start, "cpuSeconds": time.process_time() - cpu, "loss": value}), flush=True)


if __name__ == "__main__":
    main()
