#!/usr/bin/env python3
"""Lays out TensorFlow's C library from pip's tensorflow-cpu wheel the way @tensorflow/tfjs-node
expects its libtensorflow download (deps/lib, deps/include), for scripts/setup/build-tfjs-node.mjs.

The wheel holds the C API: tensorflow/libtensorflow_cc.so.2 exports the TF_* and TFE_* symbols,
tensorflow/libtensorflow_framework.so.2 the rest, headers under tensorflow/include. tfjs-node links
-ltensorflow -ltensorflow_framework, so libtensorflow.so points at libtensorflow_cc.so.2. Only the
headers the binding includes (and what they include) are extracted, not the wheel's 20k headers.

usage: extract-tensorflow-c-api.py WHEEL BINDING_SOURCES_DIR DEPS_DIR
"""
import os
import re
import shutil
import sys
import zipfile

LIBRARIES = ["libtensorflow_cc.so.2", "libtensorflow_framework.so.2"]
LINKS = {  # name tfjs-node links or loads -> file
    "libtensorflow.so": "libtensorflow_cc.so.2",
    "libtensorflow.so.2": "libtensorflow_cc.so.2",
    "libtensorflow_framework.so": "libtensorflow_framework.so.2",
}
HEADERS = "tensorflow/include/"
INCLUDE = re.compile(r'#include\s+"([^"]+)"')


def header_closure(wheel, roots):
    """Every header of the wheel reachable from `roots` through #include "...": the binding's needs."""
    names = set(wheel.namelist())
    todo = [h for h in roots if HEADERS + h in names]
    seen = set()
    while todo:
        header = todo.pop()
        if header in seen:
            continue
        seen.add(header)
        text = wheel.read(HEADERS + header).decode("utf-8", "replace")
        todo.extend(h for h in INCLUDE.findall(text) if HEADERS + h in names)
    return sorted(seen)


def main(wheel_path, sources, deps):
    roots = []
    for name in sorted(os.listdir(sources)):
        with open(os.path.join(sources, name), encoding="utf-8", errors="replace") as f:
            roots.extend(INCLUDE.findall(f.read()))
    with zipfile.ZipFile(wheel_path) as wheel:
        headers = header_closure(wheel, roots)
        if "tensorflow/c/c_api.h" not in headers or "tensorflow/c/eager/c_api.h" not in headers:
            sys.exit(f"{wheel_path} has no TensorFlow C API headers (tensorflow/include/tensorflow/c)")
        for header in headers:
            target = os.path.join(deps, "include", header)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as out:
                out.write(wheel.read(HEADERS + header))
        lib = os.path.join(deps, "lib")
        os.makedirs(lib, exist_ok=True)
        for name in LIBRARIES:
            with wheel.open("tensorflow/" + name) as src, open(os.path.join(lib, name), "wb") as out:
                shutil.copyfileobj(src, out, 1 << 24)
    for link, target in LINKS.items():
        path = os.path.join(lib, link)
        if os.path.lexists(path):
            os.remove(path)
        os.symlink(target, path)
    print(f"{len(headers)} headers, {', '.join(LIBRARIES)} -> {deps}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
