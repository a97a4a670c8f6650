#!/usr/bin/env python3
"""Tiny ONNX graphs for the detector layouts no shared model covers, and the boxes vigil must
decode from them (OUT_DIR/*.onnx and OUT_DIR/expected.json). scripts/test.sh builds them into
.deps/layouts/ (models stay out of the repository); scripts/golden/make_golden.sh keeps the
expected boxes as tests/golden/layouts.json.

Each graph takes an image [1, 3, 64, 64] and returns fixed tensors of one layout, with the
metadata an exporter would write. The expected boxes are computed here, independently of vigil:
for a 128x64 source image the letterbox ratio is 0.5; Ultralytics-style models (every layout
here) centre the resized image, so it sits 16 px down: source = (input - (0, 16)) / 0.5. Boxes
scoring <= 0.25 (the test's threshold) are dropped, and the YOLOv5 layout is class-aware NMS'd
(IoU > 0.45).

Also two graphs vigil must refuse: one with two image inputs, one whose output fits no layout.

Usage: make_layout_models.py OUT_DIR      (needs numpy and onnx: scripts/golden/requirements.txt)
"""
import json, pathlib, sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from nms_reference import nms  # noqa: E402

SIZE, CONF, IOU = 64, 0.25, 0.45
RATIO, LEFT, TOP = 0.5, 0, 16
CELLS = sum((SIZE // s) ** 2 for s in (8, 16, 32))


def graph(name, outputs, inputs=("images",), metadata=None):
    """Outputs: (name, array) pairs returned as constants; the image input is unused."""
    nodes, outs = [], []
    for out_name, value in outputs:
        tensor = numpy_helper.from_array(value, name=f"{out_name}_value")
        nodes.append(helper.make_node("Constant", [], [out_name], value=tensor))
        elem = TensorProto.INT64 if value.dtype == np.int64 else TensorProto.FLOAT
        outs.append(helper.make_tensor_value_info(out_name, elem, list(value.shape)))
    ins = [helper.make_tensor_value_info(i, TensorProto.FLOAT, [1, 3, SIZE, SIZE]) for i in inputs]
    model = helper.make_model(helper.make_graph(nodes, name, ins, outs),
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    for k, v in (metadata or {}).items():
        model.metadata_props.append(onnx.StringStringEntryProto(key=k, value=v))
    onnx.checker.check_model(model)
    return model


def to_source(x1, y1, x2, y2):
    return [(x1 - LEFT) / RATIO, (y1 - TOP) / RATIO, (x2 - LEFT) / RATIO, (y2 - TOP) / RATIO]


def expected(boxes, scores, classes, suppress):
    boxes, scores, classes = np.asarray(boxes, np.float32), np.asarray(scores, np.float32), np.asarray(classes)
    keep = scores > CONF
    boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
    order = nms(boxes, scores, classes, IOU) if suppress else range(len(scores))
    return [[*to_source(*map(float, boxes[i])), float(scores[i]), int(classes[i])] for i in order]


def yolov5():
    rows = np.zeros((3 * CELLS, 7), np.float32)  # cx, cy, w, h, objectness, 2 classes
    rows[0] = [20, 30, 10, 10, 0.9, 0.1, 0.8]     # kept: 0.72, class 1
    rows[1] = [21, 30, 10, 10, 0.9, 0.1, 0.7]     # same object, lower: suppressed by NMS
    rows[2] = [21, 30, 10, 10, 0.9, 0.6, 0.1]     # same place, other class: kept (class-aware)
    rows[3] = [40, 40, 8, 16, 0.3, 0.9, 0.2]      # 0.27: kept
    rows[4] = [50, 20, 4, 4, 0.2, 0.9, 0.9]       # 0.18: dropped
    xyxy = np.stack([rows[:, 0] - rows[:, 2] / 2, rows[:, 1] - rows[:, 3] / 2,
                     rows[:, 0] + rows[:, 2] / 2, rows[:, 1] + rows[:, 3] / 2], 1)
    cls = rows[:, 5:].argmax(1)
    scores = rows[:, 4] * rows[np.arange(len(rows)), 5 + cls]
    meta = {"names": "{0: 'cat', 1: 'dog'}", "imgsz": f"[{SIZE}, {SIZE}]", "author": "Ultralytics"}
    return graph("yolov5", [("output0", rows[None])], metadata=meta), expected(xyxy, scores, cls, True)


def end_to_end():
    rows = np.array([[10, 20, 30, 40, 0.9, 2], [5, 20, 15, 40, 0.5, 0], [0, 0, 1, 1, 0.1, 1]], np.float32)
    meta = {"end2end": "True", "names": "{0: 'a', 1: 'b', 2: 'c'}"}
    model = graph("end_to_end", [("output0", rows[None])], metadata=meta)
    return model, expected(rows[:, :4], rows[:, 4], rows[:, 5].astype(int), False)


def boxes_scores_labels(normalised):
    pixels = np.array([[8, 20, 24, 44], [30, 18, 60, 46], [1, 1, 2, 2]], np.float32)
    scores = np.array([[0.95, 0.6, 0.05]], np.float32)
    labels = np.array([[1, 3, 1]], np.int64)
    given = pixels / SIZE if normalised else pixels
    name = "bsl_normalised" if normalised else "bsl_pixels"
    model = graph(name, [("boxes", given[None]), ("scores", scores), ("labels", labels)])
    return model, expected(pixels, scores[0], labels[0], False)


def main():
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    cases = {
        "yolov5": ("yolov5", yolov5()),
        "end_to_end": ("end_to_end", end_to_end()),
        "bsl_pixels": ("boxes_scores_labels", boxes_scores_labels(False)),
        "bsl_normalised": ("boxes_scores_labels", boxes_scores_labels(True)),
    }
    record = {"source_size": [128, 64], "conf": CONF, "iou": IOU, "models": {}}
    for name, (family, (model, detections)) in cases.items():
        onnx.save(model, out / f"{name}.onnx")
        record["models"][name] = {"family": family, "detections": detections}
    odd = np.zeros((1, 7, 7), np.float32)
    onnx.save(graph("two_inputs", [("output0", odd)], inputs=("left", "right")), out / "two_inputs.onnx")
    onnx.save(graph("unknown_layout", [("scores_only", odd)]), out / "unknown_layout.onnx")
    (out / "expected.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"{len(cases)} layouts and 2 refused graphs -> {out}")


if __name__ == "__main__":
    main()
