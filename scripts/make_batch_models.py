#!/usr/bin/env python3
"""Copies of the shared detectors whose batch dimension is free, for `vigil bench --batch`.

The shared exports (YOLOX-Nano, YOLOv8n int8) are fixed at batch 1: their input says 1, and the
reshapes of the detection heads spell the batch as a literal 1. A copy takes a symbolic batch
on its input and outputs, and `0` (ONNX: "as the input's") for the batch of every reshape whose
shape starts with 1 followed by a fixed size; the bias reshapes of quantised convolutions
([1, -1, 1, 1], constants broadcast over any batch) are left alone. The weights are untouched,
so a batch of one gives exactly the original's output.

    scripts/make_batch_models.py OUT_DIR MODEL.onnx...
"""
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper


def free_batch(model: onnx.ModelProto) -> int:
    """Frees the batch in place; returns how many reshapes were changed."""
    graph = model.graph
    for value in list(graph.input) + list(graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = "batch"
    del graph.value_info[:]  # shapes inside the graph are re-derived by the runtime
    shapes = {t.name: t for t in graph.initializer}
    constants = {}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    constants[node.output[0]] = attr
    changed = 0
    for node in graph.node:
        if node.op_type != "Reshape":
            continue
        name = node.input[1]
        if name in shapes:
            tensor = shapes[name]
        elif name in constants:
            tensor = constants[name].t
        else:
            continue
        shape = numpy_helper.to_array(tensor).copy()
        if shape.ndim == 1 and len(shape) >= 2 and shape[0] == 1 and shape[1] > 0:
            shape[0] = 0
            tensor.CopyFrom(numpy_helper.from_array(shape.astype(np.int64), tensor.name))
            changed += 1
    return changed


def main() -> None:
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for path in map(Path, sys.argv[2:]):
        model = onnx.load(str(path))
        changed = free_batch(model)
        onnx.checker.check_model(model)
        target = out / path.name
        onnx.save(model, str(target))
        print(f"{path.name}: batch freed ({changed} reshapes) -> {target}")


if __name__ == "__main__":
    main()
